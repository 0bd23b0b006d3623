"""Guard rails in a real browser: retention's Run now refused without a dry run (the name must be typed), a
user's deactivation asks first."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from agents_admin.models import PurgeReport
from agents_admin.services import retention
from tests.browser.conftest import axe_violations, screenshot
from tests.personas import user_with_role

pytestmark = pytest.mark.browser


def test_run_now_without_a_dry_run_needs_the_policy_name(signed_in: Any) -> None:
    page = signed_in
    policy = retention.policy_save(
        policy=None, actor=None, name="Trim everything", project=None, days=30, daily_at=datetime.time(3, 0)
    )
    page.goto(f"/retention/policies/{policy.pk}/")
    expect(page.get_by_role("button", name="Enable schedule")).to_be_disabled()  # no dry run yet
    run_now = page.locator("#run-now")
    expect(run_now).to_contain_text("No dry run of this selection in the last hour")
    run_now.get_by_role("button", name="Run now anyway").click()
    expect(page.locator("#id_confirm_name_error")).to_contain_text("needs a dry run")
    assert not PurgeReport.objects.exists()
    screenshot(page, "retention-run-now-guard")
    assert axe_violations(page) == []
    page.get_by_label("Type the policy's name").fill("Trim everything")
    page.locator("#run-now").get_by_role("button", name="Run now anyway").click()
    page.wait_for_url("**/retention/reports/*/")
    assert PurgeReport.objects.filter(dry_run=False).count() == 1


def test_deactivating_a_user_asks_first(signed_in: Any, admin_user: User) -> None:
    page = signed_in
    rita = user_with_role("Reviewer", "rita")
    page.goto(f"/settings/users/{rita.pk}/")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("heading", name="Deactivate rita?")).to_be_visible()
    rita.refresh_from_db()
    assert rita.is_active
    page.get_by_role("button", name="Deactivate rita").click()
    page.wait_for_url(f"**/settings/users/{rita.pk}/")
    rita.refresh_from_db()
    assert not rita.is_active
