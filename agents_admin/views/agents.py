from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.agents import AgentForm
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.selectors import agents as agent_selectors
from agents_admin.selectors.agents import agent_get
from agents_admin.services.agents import agent_create, agent_delete, agent_update, agents_v2_names_assign
from agents_admin.services.projects import project_default
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, confirmed, render_page


@require_GET
@capability_required("view_agent_config")
def agent_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_page(
        request, "agents_admin/agent_list.html", {"agents": agent_selectors.agent_list()}, partial="list"
    )


@require_http_methods(["GET", "POST"])
@capability_required("edit_agents")
def agent_create_view(request: HtmxHttpRequest) -> HttpResponse:
    project = project_default()
    data = request.POST if request.method == "POST" else None
    form = AgentForm(data=data, project_id=project.pk, initial={"tools": [], "metadata": {}})
    if request.method == "POST" and form.is_valid():
        try:
            agent = agent_create(project=project, actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Agent “{agent}” created.")
            return redirect("agents_admin:agent_edit", agent_id=agent.id)
    return render_page(request, "agents_admin/agent_form.html", {"form": form, "agent": None}, partial="form")


@require_http_methods(["GET", "POST"])
@capability_required("edit_agents")
def agent_edit(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_get(agent_id)
    form = AgentForm.for_agent(agent, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            agent = agent_update(agent=agent, actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Agent “{agent}” saved (version {agent.version}).")
            return redirect("agents_admin:agent_edit", agent_id=agent.id)
    return render_page(request, "agents_admin/agent_form.html", {"form": form, "agent": agent}, partial="form")


@require_http_methods(["GET", "POST"])
@capability_required("edit_agents")
def agent_delete_view(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_get(agent_id)
    confirm = ConfirmForm(
        request.POST if request.method == "POST" else None, action="agent.delete", target=agent.pk,
        user_id=request.user.pk,
    )  # fmt: skip
    if confirmed(request, confirm):
        agent_delete(agent=agent, actor=request.user)
        messages.success(request, f"Agent “{agent}” deleted.")
        return redirect("agents_admin:agent_list")
    context = {"agent": agent, "confirm": confirm.fresh(), "usage": agent_selectors.agent_usage(agent)}
    if request.method == "POST" and confirm.data.get("confirm"):
        context["error"] = " ".join(confirm.errors.get("confirm", []))
    return render_page(request, "agents_admin/agent_confirm_delete.html", context, partial="confirm")


@require_GET
@capability_required("view_agent_config")
def agent_versions(request: HtmxHttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_get(agent_id)
    context = {"agent": agent, "versions": agent_selectors.agent_versions(agent)}
    return render_page(request, "agents_admin/agent_versions.html", context, partial="versions")


@require_GET
@capability_required("view_agent_config")
def agent_v2_names(request: HtmxHttpRequest) -> HttpResponse:
    """How the classic agents read through the v2 protocol, and the names they would take there."""
    plan = agent_selectors.v2_names_proposed()
    return render_page(request, "agents_admin/agent_v2_names.html", {"plan": plan}, partial="plan")


@require_POST
@capability_required("edit_agents")
def agent_v2_names_assign_view(request: HtmxHttpRequest) -> HttpResponse:
    assigned = agents_v2_names_assign(actor=request.user)
    messages.success(request, f"{len(assigned)} agents named for the v2 protocol." if assigned else "Nothing to do.")
    return redirect("agents_admin:agent_v2_names")
