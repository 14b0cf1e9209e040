"""The edge-list format and the two analysis CLIs, whose JSON contracts other tools rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from gd_wl.cli import biconnectivity_main
from gd_wl.cli import test_iso_main as iso_main
from gd_wl.data import counterexample_1, counterexample_2
from gd_wl.graph import parse_edge_list, write_edge_list
from orals23_shared.cli import UsageError, run_cli


def run(main, argv, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(main, argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_parse_comments_isolated_nodes_and_repeats():
    g = parse_edge_list("# a triangle\n0 1\n1 2  # trailing comment\n2 0\n1 0\n\n5\n")
    assert g.n == 6 and g.edges.tolist() == [[0, 1], [0, 2], [1, 2]]  # 3, 4 implicit, 5 declared: isolated


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0 1\n1 x\n", ":2: node ids must be integers"),
        ("0 1\n1 2 3\n", ":2: expected 'u v'"),
        ("0 1\n-1 2\n", ":2: node ids must be >= 0"),
        ("0 1\n2 2\n", ":2: self-loop"),
        ("# nothing\n\n", "empty graph"),
    ],
)
def test_malformed_lines_name_the_line(text, needle):
    with pytest.raises(UsageError, match=needle):
        parse_edge_list(text, name="g.edges")


def test_test_iso_json_contract_on_the_paper_pairs(tmp_path, capsys):
    for name, a, b in [("ce1", counterexample_1(1, 3, False), counterexample_1(1, 3, True)),
                       ("ce2", counterexample_2(4, False), counterexample_2(4, True))]:  # fmt: skip
        pa, pb = write_edge_list(a, tmp_path / f"{name}a.edges"), write_edge_list(b, tmp_path / f"{name}b.edges")
        code, out, _ = run(iso_main, [str(pa), str(pb), "--json"], capsys)
        assert code == 0 and json.loads(out) == {"wl": False, "spd": True, "rd": True}


def test_test_iso_isomorphic_and_non_isomorphic(write_edges, capsys):
    a = write_edges("a.edges", "0 1\n1 2\n2 3\n")
    b = write_edges("b.edges", "# relabelled path\n3 1\n1 0\n0 2\n")
    c = write_edges("c.edges", "0 1\n0 2\n0 3\n")  # a star: degrees differ, 1-WL suffices
    assert json.loads(run(iso_main, [str(a), str(b), "--json"], capsys)[1]) == {"wl": False, "spd": False, "rd": False}
    assert json.loads(run(iso_main, [str(a), str(c), "--json"], capsys)[1]) == {"wl": True, "spd": True, "rd": True}


def test_biconnectivity_json_matches_networkx(write_edges, capsys):
    text = "0 1\n1 2\n2 0\n2 3\n3 4\n4 5\n5 3\n5 6\n8\n"  # two triangles joined by a bridge, a pendant, isolated 7, 8
    path = write_edges("g.edges", text)
    code, out, _ = run(biconnectivity_main, [str(path), "--json"], capsys)
    got = json.loads(out)
    g = nx.Graph([tuple(map(int, ln.split())) for ln in text.splitlines() if len(ln.split()) == 2])
    g.add_nodes_from(range(9))
    assert code == 0 and set(got) == {"cut_vertices", "bridges", "blocks"}
    assert got["cut_vertices"] == sorted(nx.articulation_points(g)) == [2, 3, 5]
    assert got["bridges"] == sorted(sorted(e) for e in nx.bridges(g)) == [[2, 3], [5, 6]]
    assert got["blocks"] == sorted(sorted(c) for c in nx.biconnected_components(g))


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"a.edges": "0 1\n1 two\n"}, "a.edges:2: node ids must be integers"),
        ({"a.edges": ""}, "empty graph"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(write_edges, capsys, files, needle):
    paths = [str(write_edges(k, v)) for k, v in files.items()]
    good = str(write_edges("ok.edges", "0 1\n"))
    for main, argv in ((iso_main, [paths[0], good, "--json"]), (biconnectivity_main, [paths[0], "--json"])):
        code, out, err = run(main, argv, capsys)
        assert code == 2 and out == "" and needle in err and len(err.strip().splitlines()) == 1


def test_missing_file_is_one_line(tmp_path, capsys):
    code, _, err = run(biconnectivity_main, [str(tmp_path / "none.edges"), "--json"], capsys)
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("module", ["cli:test_iso_main", "cli:biconnectivity_main", "cli:train_main",
                                    "cli:eval_main", "reproduce:main", "bench:main"])  # fmt: skip
def test_every_cli_answers_help(module, capsys):
    import importlib

    mod, fn = module.split(":")
    main = getattr(importlib.import_module(f"gd_wl.{mod}"), fn)
    code, out, _ = run(main, ["--help"], capsys)
    assert code == 0 and "usage" in out


def test_console_scripts_are_installed():
    exe = shutil.which("gd-wl-biconnectivity", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("gd-wl-biconnectivity is not on PATH (package not installed with its scripts)")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "usage" in res.stdout
