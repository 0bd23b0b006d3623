"""State of the service: projects, agents (versioned), threads, messages, runs and run steps, and what governs them.

Ids are public, opaque strings in the Foundry shape, and are the primary keys, so the console, the REST API
and the logs all speak the same ids. One module per topic; everything is importable from ``agents_admin.models``.
"""

from agents_admin.models.access import ApiKey, AuditEvent, ExternalIdentity
from agents_admin.models.accounts import UserProfile
from agents_admin.models.agents import AGENT_FIELDS, Agent, AgentVersion
from agents_admin.models.connections import ModelConnection
from agents_admin.models.exports import ExportJob
from agents_admin.models.files import File
from agents_admin.models.projects import Project
from agents_admin.models.remote import RemoteProject, SyncRecord
from agents_admin.models.responses import Response
from agents_admin.models.retention import PurgeReport, RetentionPolicy, ThreadHold, ThreadTombstone
from agents_admin.models.review import MessageComment, ThreadFlag, ThreadNote
from agents_admin.models.review_queues import Review, ReviewItem, ReviewQueue, ReviewQueueReviewer
from agents_admin.models.runs import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, Run, RunStatus, RunStep
from agents_admin.models.saved_views import SavedView
from agents_admin.models.threads import Message, Thread
from agents_admin.models.traces import RunSpan
from agents_admin.models.usage import ModelPrice, UsageErrorCount, UsagePeriod, UsageRollup
from agents_admin.models.vector_stores import VectorStore, VectorStoreChunk, VectorStoreFile, VectorStoreFileBatch

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "AGENT_FIELDS",
    "Agent",
    "AgentVersion",
    "ApiKey",
    "AuditEvent",
    "ExternalIdentity",
    "ExportJob",
    "File",
    "Message",
    "MessageComment",
    "ModelConnection",
    "ModelPrice",
    "Project",
    "PurgeReport",
    "RemoteProject",
    "Response",
    "RetentionPolicy",
    "Review",
    "ReviewItem",
    "ReviewQueue",
    "ReviewQueueReviewer",
    "Run",
    "RunSpan",
    "RunStatus",
    "RunStep",
    "SavedView",
    "SyncRecord",
    "TERMINAL_RUN_STATUSES",
    "Thread",
    "VectorStore",
    "VectorStoreChunk",
    "VectorStoreFile",
    "VectorStoreFileBatch",
    "ThreadFlag",
    "ThreadHold",
    "ThreadTombstone",
    "ThreadNote",
    "UsageErrorCount",
    "UsagePeriod",
    "UsageRollup",
    "UserProfile",
]
