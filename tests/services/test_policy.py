"""The policy: Glance's default rules, read by oslo.policy, with a policy file's rules
over them (lading's first format, a list of roles, still read); a file that cannot be
used refused whole; an action no rule names is a typo, never a default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.services.policy import DEFAULT_RULES, Policy
from lading.services.protections import PropertyProtections
from lading.services.roles import IMPLIED_ROLES, PolicyError


def credentials(role: str, project: str = "A") -> dict[str, object]:
    return {"roles": sorted(IMPLIED_ROLES[role]), "project_id": project, "service_roles": []}


def image(owner: str = "A", visibility: str = "private") -> dict[str, object]:
    return {"project_id": owner, "owner": owner, "visibility": visibility}


def test_the_defaults_are_glances_by_role_and_project() -> None:
    policy = Policy()
    assert policy.allows(credentials("member"), "modify_image", image())
    assert not policy.allows(credentials("member", "B"), "modify_image", image())
    assert not policy.allows(credentials("reader"), "modify_image", image())
    assert policy.allows(credentials("admin", "B"), "modify_image", image())
    assert not policy.allows(credentials("member"), "publicize_image", image())
    # get_image: a reader sees another project's public image, not its private one
    assert policy.allows(credentials("reader", "B"), "get_image", image(visibility="public"))
    assert not policy.allows(credentials("reader", "B"), "get_image", image())


def test_a_service_token_beside_the_users_opens_the_service_api() -> None:
    policy = Policy()
    user = credentials("reader", "B")
    assert not policy.allows(user, "fetch_image_location", image())
    assert policy.allows({**user, "service_roles": ["service"]}, "fetch_image_location", image())


def test_an_override_replaces_one_rule_and_keeps_the_others() -> None:
    policy = Policy({"delete_image": "role:admin"})
    assert not policy.allows(credentials("member"), "delete_image", image())
    assert policy.allows(credentials("member"), "modify_image", image())
    assert set(policy.rules) == set(DEFAULT_RULES)


def test_an_action_no_rule_names_is_an_error_not_a_default() -> None:
    with pytest.raises(KeyError):
        Policy().allows(credentials("admin"), "modify_imgae", image())


def test_without_protections_every_property_is_allowed(tmp_path: Path) -> None:
    assert Policy().allows_property(IMPLIED_ROLES["reader"], "x_secret", "delete")
    path = tmp_path / "protections.conf"
    path.write_text("[^x_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n")
    protected = Policy(protections=PropertyProtections.load(path))
    assert not protected.allows_property(IMPLIED_ROLES["member"], "x_secret", "read")


def test_the_first_policy_format_is_still_read(tmp_path: Path) -> None:
    """lading's first policy files listed roles: any of them may."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("delete_image: [admin]\npublicize_image: [admin, member]\n")
    loaded = Policy.load(policy)
    assert loaded.rules["delete_image"] == "role:admin"
    assert loaded.rules["publicize_image"] == "role:admin or role:member"


@pytest.mark.parametrize(
    ("text", "error"),
    [("delete_image: [owner]\n", "must list roles"), ("[1, 2]\n", "maps rule names"),
     ("a: [\n", "cannot read"), ("delete_image: 3\n", "must be a check string"),
     ('delete_image: "role:admin or (("\n', "cannot parse")],
)  # fmt: skip
def test_a_bad_policy_file_is_refused(tmp_path: Path, text: str, error: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    with pytest.raises(PolicyError, match=error):
        Policy.load(policy)
