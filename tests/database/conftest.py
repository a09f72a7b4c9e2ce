"""A tiny synthetic database (two analyses) written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

GLOBAL_UL = """id: TEST-UL-01
sqrts: 13*TeV
lumi: 139.0/fb
url: https://example.org/ul
supersededBy: TEST-UL-02
"""
UL_DATAINFO = "dataId: None\ndataType: upperLimit\n"
UL_TX = """txName: T2tt
constraint: [[['t']],[['t']]]
condition: None
axes: [[x, y], [x, y]]
upperLimits: [[[[1.0E+02*GeV,0.0E+00*GeV],[1.0E+02*GeV,0.0E+00*GeV]],1.0E+00*pb],
[[[2.0E+02*GeV,0.0E+00*GeV],[2.0E+02*GeV,0.0E+00*GeV]],5.0E-01*pb],
[[[2.0E+02*GeV,1.0E+02*GeV],[2.0E+02*GeV,1.0E+02*GeV]],8.0E-01*pb]]
expectedUpperLimits: [[[[1.0E+02*GeV,0.0E+00*GeV],[1.0E+02*GeV,0.0E+00*GeV]],9.0E+02*fb],
[[[2.0E+02*GeV,0.0E+00*GeV],[2.0E+02*GeV,0.0E+00*GeV]],4.0E+02*fb],
[[[2.0E+02*GeV,1.0E+02*GeV],[2.0E+02*GeV,1.0E+02*GeV]],7.0E+02*fb]]
"""
GLOBAL_EM = """id: TEST-EM-01
sqrts: 8.0*TeV
lumi: 20.3/fb
datasetOrder: "SR2", "SR1"
covariance: [[4.0, 1.0], [1.0, 9.0]]
"""
EM_TX = """txName: T2bb
constraint: [[['b']],[['b']]]
condition: None
efficiencyMap: [[[[1.0E+02*GeV,0.0E+00*GeV],[1.0E+02*GeV,0.0E+00*GeV]],0.01],
[[[2.0E+02*GeV,0.0E+00*GeV],[2.0E+02*GeV,0.0E+00*GeV]],0.02],
[[[2.0E+02*GeV,1.0E+02*GeV],[2.0E+02*GeV,1.0E+02*GeV]],0.03]]
"""


def em_datainfo(sr: str, obs: float, bkg: float, err: float) -> str:
    return (f"dataId: {sr}\ndataType: efficiencyMap\nobservedN: {obs}\nexpectedBG: {bkg}\nbgError: {err}\n"
            "upperLimit: 1.5*fb\nexpectedUpperLimit: 1.2*fb\n")


def write_tiny_database(root: Path) -> Path:
    files = {
        "version": "test-1\n",
        "13TeV/ATLAS/TEST-UL-01/globalInfo.txt": GLOBAL_UL,
        "13TeV/ATLAS/TEST-UL-01/data/dataInfo.txt": UL_DATAINFO,
        "13TeV/ATLAS/TEST-UL-01/data/T2tt.txt": UL_TX,
        "8TeV/CMS/TEST-EM-01-eff/globalInfo.txt": GLOBAL_EM,
        "8TeV/CMS/TEST-EM-01-eff/SR1/dataInfo.txt": em_datainfo("SR1", 10, 8.5, 2.0),
        "8TeV/CMS/TEST-EM-01-eff/SR1/T2bb.txt": EM_TX,
        "8TeV/CMS/TEST-EM-01-eff/SR2/dataInfo.txt": em_datainfo("SR2", 3, 4.0, 1.0),
        "8TeV/CMS/TEST-EM-01-eff/SR2/T2bb.txt": EM_TX,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def tiny_database(tmp_path: Path) -> Path:
    return write_tiny_database(tmp_path / "db")
