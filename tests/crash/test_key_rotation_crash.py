"""`earsiv key rotate` killed at each of its steps: the archive opens and signs with one well-defined key.

The key in force is what the log says (its newest valid key introduction, or the first key).
Killed before the entry: the first key stays, the half-made successor is deleted. Killed
after it: the successor takes over at the next open, though the home still held the old key.
"""

from __future__ import annotations

import pytest

from earsiv.archive.keys import KEY_FILE, NEXT_KEY_FILE, key_id_of
from tests.conftest import CORPUS, Cli

FIRST = "efatura/sk-akgips_20251120150604701835.xml"
LATER = "efatura/gib121_TEVKIFAT.xml"


def _home_key(home) -> str:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key((home / "keys" / KEY_FILE).read_bytes(), None)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return key_id_of(public)


@pytest.mark.parametrize("point,rotated", [("rotate.after-key", False), ("rotate.after-entry", True),
                                           ("rotate.after-switch", True)])
def test_a_rotation_killed_at_each_step_leaves_one_key_in_force(point, rotated, home):
    cli = Cli(home)
    cli.run("ingest", str(CORPUS / FIRST))
    first = cli.json("status")["key_fingerprint"]
    crashed = cli.run("key", "rotate", "--reason", "test", check=None, env={"EARSIV_FAULT": point})
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    assert f"SIGKILL at {point}".encode() in crashed.stderr
    if point == "rotate.after-entry":
        assert _home_key(home) == first and (home / "keys" / NEXT_KEY_FILE).exists()  # the state the test is about

    # It opens, takes a document, signs its checkpoint, and everything verifies.
    cli.run("ingest", str(CORPUS / LATER))
    st = cli.json("status")
    keys = st["keys"]
    assert st["key_fingerprint"] == keys["first"] == first
    assert (keys["current"] != first) is rotated
    assert len(keys["history"]) == (2 if rotated else 1)
    # The home signs with that key, and only it is left in the home.
    assert _home_key(home) == keys["current"]
    assert sorted(p.name for p in (home / "keys").iterdir()) == [KEY_FILE]
    assert cli.run("verify", "--all", check=None).returncode == 0
    last = st["last_checkpoint"]["size"]
    body = (home / "store" / "objects" / "log" / "checkpoints" / f"{last:016d}").read_text()
    assert f"key: {keys['current']}\n" in body

    # And the rotation can be made (again) afterwards.
    again = cli.json("key", "rotate", "--reason", "after the crash")
    assert again["old_key"] == keys["current"] and again["first_key"] == first
    assert cli.run("verify", "--all", check=None).returncode == 0
