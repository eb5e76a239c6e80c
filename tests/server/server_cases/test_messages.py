"""Prefect Server's tests/graphql/test_messages.py: not ported.

On Prefect Server a message exists only once a PREFECT_MESSAGE cloud hook created it (its
tests insert one through Server's Python API); cloud hooks are a Prefect Cloud feature here, so
no message ever exists. What this backend answers instead is checked below.
"""
import uuid

import pytest

from tests.server.server_cases.calls import mutate, ok, skipped_cases

NO_MESSAGES = ("needs an existing message, which only a PREFECT_MESSAGE cloud hook creates on Server "
               "(a Prefect Cloud feature here): this backend keeps no messages")

test_server_case_not_ported = skipped_cases({
    "TestMarkUpdatesAsRead::test_mark_message_as_read": NO_MESSAGES,
    "TestMarkUpdatesAsUnread::test_mark_message_as_unread": NO_MESSAGES,
    "TestDeleteUpdate::test_delete_message": NO_MESSAGES,
})


def test_there_are_no_messages(gql):
    answer = gql.data("query { message(where: {read: {_eq: false}}) { id } "
                      "message_aggregate { aggregate { count } } }")
    assert answer == {"message": [], "message_aggregate": {"aggregate": {"count": 0}}}


@pytest.mark.parametrize("mutation", ["mark_message_as_read", "mark_message_as_unread", "delete_message"])
def test_message_mutations_on_an_unknown_message_are_not_success(gql, mutation):
    # Server's answer for a message id that matches no row
    assert ok(mutate(gql, mutation, {"message_id": str(uuid.uuid4())}), mutation)["success"] is False
