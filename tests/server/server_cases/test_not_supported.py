"""Not one of Prefect Server's test files: the operations this backend leaves out (Prefect
Cloud's, and tenants beyond one) answer one clear error, and the README lists exactly them."""
import re
from pathlib import Path

import pytest

from tasks_flowrun.server.graphql.unsupported import CLOUD_ONLY, MULTI_TENANT


@pytest.mark.parametrize("operation", sorted(CLOUD_ONLY))
def test_cloud_only_operations_answer_a_clear_error(gql, operation):
    errors = gql.errors("mutation { %s(input: {x: 1}) { success } }" % operation)
    assert errors[0]["message"].startswith(f"{operation} is a Prefect Cloud feature, not supported by this backend")
    assert errors[0]["extensions"]["code"] == "NOT_SUPPORTED"


@pytest.mark.parametrize("operation", sorted(MULTI_TENANT))
def test_tenant_operations_beyond_one_tenant_answer_a_clear_error(gql, tenant_id, operation):
    errors = gql.errors('mutation { %s(input: {tenant_id: "%s", name: "x"}) { id } }' % (operation, tenant_id))
    assert errors[0]["message"].startswith(f"{operation} manages several tenants, not supported by this backend")
    assert errors[0]["extensions"]["code"] == "NOT_SUPPORTED"
    assert gql.data('query { tenant(where: {id: {_eq: "%s"}}) { id } }' % tenant_id)["tenant"] == [{"id": tenant_id}]


def test_the_readme_lists_exactly_the_unsupported_operations():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What it does, and what it leaves out")[1].split("\n## ")[0]
    listed = re.findall(r"`([a-z_]+)`", section.split("Not included:")[1])
    assert set(listed) - {"kv"} == set(CLOUD_ONLY) | set(MULTI_TENANT)
    assert len(listed) == len(set(listed))
