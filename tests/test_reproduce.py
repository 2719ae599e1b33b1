"""reproduce.py: the report is built from saved runs alone, and one row can be run on its own."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fake_row(out: Path, row: str, psnr: float, status: str = "ok"):
    folder = out / "reproduce" / row
    run = folder / "2dimage" / "20260101-000000"
    run.mkdir(parents=True)
    model = row.split("/")[-1]
    (run / "summary.json").write_text(
        json.dumps(
            {
                "psnr": psnr,
                "ssim": 0.9,
                "n_params": 1234,
                "steps": 10,
                "wall_time_s": 5.0,
                "device": "cpu",
                "model": model,
            }
        )  # fmt: skip
    )
    (run / "metrics.csv").write_text("step,time_s,loss,lr,psnr\n1,0.5,0.1,0.01,10\n10,5.0,0.01,0.001,20\n")
    st = {"row": row, "status": status, "run": str(run), "paper": "—"}
    if status != "ok":
        st["message"] = "error: the loss became nan at step 3"
    (folder / "status.json").write_text(json.dumps(st))


def test_report_from_saved_summaries(tmp_path):
    _fake_row(tmp_path, "image/camera/oinr", 33.25)
    _fake_row(tmp_path, "image/camera/siren", 28.5)
    _fake_row(tmp_path, "image/camera/wire", 0.0, status="diverged")
    proc = subprocess.run([sys.executable, str(ROOT / "reproduce.py"), f"--out={tmp_path}", "--report_only=true"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "REPORT.md").read_text()
    # no row of this table has a paper number: the column is dropped
    assert "| image/camera/oinr | oinr | 1234 | 10 | 5.00 | cpu | 33.25 | 0.9000 |\n" in report
    assert "| image/camera/siren | siren | 1234 | 10 | 5.00 | cpu | 28.50 |" in report
    assert "| image/camera/wire | wire | — | — | — | — | diverged | diverged |\n" in report
    assert "paper" not in report.split("## Image fitting")[1].splitlines()[4]  # the header row
    assert (tmp_path / "figures" / "image_camera.png").stat().st_size > 0


def test_only_runs_one_row(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "reproduce.py"), "--only=image/camera/oinr", "--seconds=2", f"--out={tmp_path}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p.name for p in (tmp_path / "reproduce").glob("*/*/*")] == ["oinr"]
    st = json.loads((tmp_path / "reproduce" / "image" / "camera" / "oinr" / "status.json").read_text())
    assert st["status"] == "ok"
    summary = json.loads((Path(st["run"]) / "summary.json").read_text())
    assert summary["model"] == "oinr" and summary["psnr"] > 10
    assert "image/camera/oinr" in (tmp_path / "REPORT.md").read_text()


def test_unknown_row_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "reproduce.py"), "--only=nothing", f"--out={tmp_path}"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: --only=nothing matches no row")
