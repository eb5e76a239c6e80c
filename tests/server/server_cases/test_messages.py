"""Prefect Server's tests/graphql/test_messages.py, ported.

Server's cases insert their message through its Python API; here it is made the way a
client makes one: a PREFECT_MESSAGE cloud hook sent a test event (`test_cloud_hook`), which
writes one unread CLOUD_HOOK message. Messages are deleted before and after each test.
"""
import uuid
from typing import Callable, Iterator

import pytest

from tests.server.server_cases.calls import count, mutate, ok, row, rows
from tests.server.server_cases.test_cloud_hooks import delete_all_messages
from tests.server.support import GraphQL


@pytest.fixture
def make_message(gql: GraphQL, tenant_id: str) -> Iterator[Callable[[], str]]:
    """A new message of the tenant (the only one in the backend); its id."""
    delete_all_messages(gql)
    hook_id = ok(mutate(gql, "create_cloud_hook", {
        "tenant_id": tenant_id, "type": "PREFECT_MESSAGE", "config": {}, "states": ["FAILED"],
        # a version group of no flow: only test_cloud_hook calls this hook
        "version_group_id": f"messages-{uuid.uuid4()}",
    }, "id"), "create_cloud_hook")["id"]

    def make() -> str:
        assert ok(mutate(gql, "test_cloud_hook", {"cloud_hook_id": hook_id}, "success error"),
                  "test_cloud_hook") == {"success": True, "error": None}
        (message,) = rows(gql, "message", {"tenant_id": {"_eq": tenant_id}}, "id type content")
        assert message["type"] == "CLOUD_HOOK" and message["content"]["type"] == "CLOUD_HOOK"
        return message["id"]

    yield make
    mutate(gql, "delete_cloud_hook", {"cloud_hook_id": hook_id})
    delete_all_messages(gql)


class TestMarkUpdatesAsRead:
    def test_mark_message_as_read(self, gql, make_message):
        message_id = make_message()
        result = ok(mutate(gql, "mark_message_as_read", {"message_id": message_id}), "mark_message_as_read")
        assert result["success"] is True
        assert row(gql, "message", message_id, "read")["read"] is True


class TestMarkUpdatesAsUnread:
    def test_mark_message_as_unread(self, gql, make_message):
        message_id = make_message()
        assert row(gql, "message", message_id, "read")["read"] is False
        ok(mutate(gql, "mark_message_as_read", {"message_id": message_id}), "mark_message_as_read")
        assert row(gql, "message", message_id, "read")["read"] is True
        result = ok(mutate(gql, "mark_message_as_unread", {"message_id": message_id}), "mark_message_as_unread")
        assert result["success"] is True
        assert row(gql, "message", message_id, "read")["read"] is False


class TestDeleteUpdate:
    def test_delete_message(self, gql, make_message):
        message_id = make_message()
        result = ok(mutate(gql, "delete_message", {"message_id": message_id}), "delete_message")
        assert result["success"]
        assert row(gql, "message", message_id, "id") is None


def test_the_ui_counts_and_lists_unread_messages(gql, tenant_id, make_message):
    """Beyond Server's own file: the Prefect UI's notification queries see the message until
    it is read."""
    message_id = make_message()
    unread = {"read": {"_eq": False}}
    assert count(gql, "message", unread) == 1
    assert [m["id"] for m in rows(gql, "message", unread, "id", order_by={"created": "desc"})] == [message_id]
    ok(mutate(gql, "mark_message_as_read", {"message_id": message_id}), "mark_message_as_read")
    assert count(gql, "message", unread) == 0


@pytest.mark.parametrize("mutation", ["mark_message_as_read", "mark_message_as_unread", "delete_message"])
def test_message_mutations_on_an_unknown_message_are_not_success(gql, mutation):
    """Beyond Server's own file: Server's answer for a message id that matches no row."""
    assert ok(mutate(gql, mutation, {"message_id": str(uuid.uuid4())}), mutation)["success"] is False
