"""The project's URLs with the Django admin mounted, as DJANGO_ADMIN_ENABLED=true gives (tests of the admin)."""

from dashboard.urls import ADMIN_PATTERNS
from dashboard.urls import urlpatterns as project_patterns

urlpatterns = ADMIN_PATTERNS + project_patterns
