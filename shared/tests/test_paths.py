from pathlib import Path

import pytest

from orals23_shared.paths import ENV_VAR, shared_data_dir


def test_env_override(tmp_path, monkeypatch):
    (tmp_path / "cora").mkdir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert shared_data_dir("cora") == tmp_path / "cora"
    assert shared_data_dir("nope") is None


def test_checkout_layout_resolves_team_data(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    root = Path(__file__).resolve().parents[2]  # the checkout: shared/tests/ -> root
    expected = root.parent / "shared" / "data"
    if not expected.is_dir():
        pytest.skip(f"no team data folder at {expected}")
    assert shared_data_dir() == expected
    assert shared_data_dir("cora") == expected / "cora"
