"""Weight-space learning: IDX files, batched fits of a data set, torchrun shards, resume, classification."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from oinr.data.idx import load_idx_folder, read_idx, read_idx_pair, write_idx
from oinr.downstream.weight_files import load_tensors, save_tensors
from oinr.downstream.weightspace import fit_chunk, gauss_newton_map, init_model, render
from oinr.errors import UserError
from oinr.fit.runs import MetricsLog

ROOT = Path(__file__).resolve().parent.parent
FIT = ROOT / "downstream" / "weight_space" / "fit_dataset.py"
CLASSIFY = ROOT / "downstream" / "weight_space" / "classify.py"
TINY = ["--data=digits", "--limit_train=200", "--limit_test=60", "--chunk=64", "--widths=4,4", "--octaves=2",
        "--steps=15", "--lr=3e-2", "--target_psnr=25", "--progress=false", "--threads=1"]  # fmt: skip
CFG = {"DATA": "digits", "MODEL": "oinr", "WIDTHS": (4, 4), "KERNEL": 3, "FIRST_KERNEL": 1, "FIRST_OMEGA": 10.0,
       "OCTAVES": 2, "STEPS": 12, "LR": 3e-2, "TARGET_PSNR": 60.0, "LOG_EVERY": 5, "SEED": 0}  # fmt: skip


def _run(args, cwd=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: tiny fits and MLPs only spin a second on 2 cores
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)  # fmt: skip


def _folder(proc) -> Path:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1].removeprefix("run folder: "))


def test_idx_reader_and_its_errors(tmp_path):
    x = np.arange(3 * 5 * 4, dtype=np.uint8).reshape(3, 5, 4)
    y = np.array([1, 7, 2], dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "train-labels-idx1-ubyte", y)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x[:2])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y[:2])
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), x)
    raw = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
    assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 3])  # magic 0x00000801, count 3 (big-endian)
    sp = load_idx_folder(tmp_path)
    assert sp.train_x.shape == (3, 5, 4) and sp.test_y.tolist() == [1, 7]
    assert sp.train_x.max() == pytest.approx(59 / 255)

    bad = tmp_path / "bad"
    bad.write_bytes(b"\x08\x03\x00\x00" + raw[4:])  # wrong magic
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(bad)
    bad.write_bytes(raw[:-1])  # one label short
    with pytest.raises(UserError, match="truncated: 10 bytes for shape \\(3,\\), expected 11"):
        read_idx(bad)
    bad.write_bytes(gzip.compress(raw)[:-6])  # a cut download
    with pytest.raises(UserError):
        read_idx(bad)
    with pytest.raises(UserError, match="not found"):
        read_idx(tmp_path / "missing")
    with pytest.raises(UserError, match="holds 2 images but .* holds 3 labels"):
        read_idx_pair(tmp_path / "t10k-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte")


def test_batched_fit_equals_one_by_one_and_flags_unreached():
    torch.manual_seed(0)
    images = torch.rand(3, 8, 8)
    model = init_model(CFG)
    together = fit_chunk(CFG, model, images, "cpu")
    for i in range(3):
        alone = fit_chunk(CFG, model, images[i : i + 1], "cpu")
        assert torch.allclose(together["weights"][i], alone["weights"][0], atol=1e-5)
        assert together["psnr"][i] == pytest.approx(float(alone["psnr"][0]), abs=1e-3)
    assert together["steps"].tolist() == [12, 12, 12]  # 60 dB cannot be reached in 12 steps: the limit
    assert not together["reached"].any() and (together["psnr"] > 10).all()


GN = {**CFG, "SOLVER": "gauss-newton", "LAZY_SCALE": 64.0, "REFINE_STEPS": 0, "REFINE_LR": 1e-4, "TARGET_PSNR": 30.0}


def test_gauss_newton_step_solves_the_linearised_fit_and_the_network_follows():
    torch.manual_seed(0)
    images = torch.rand(4, 8, 8)  # noise: the hardest 8x8 targets
    model = init_model(GN)
    gn = gauss_newton_map(GN, model, (8, 8), "cpu")
    theta0 = torch.cat([p.detach().flatten() for p in model.parameters()])
    y = images.flatten(1) * 2 - 1
    # the step is alpha * J^+ y: the linearised centred field alpha * J (theta - theta0) equals y
    from torch.func import functional_call, jacrev

    grid = model.make_input((8, 8))
    params = {k: v.detach() for k, v in model.named_parameters()}
    jac = jacrev(lambda q: functional_call(model, q, (grid,)).flatten())(params)
    jac = torch.cat([jac[k].flatten(1) for k in params], 1)  # (64, P)
    out = fit_chunk(GN, model, images, "cpu", gn_map=gn)
    delta = out["weights"] - theta0
    assert torch.allclose(64.0 * delta @ jac.T, y, atol=2e-3)
    # the network itself (not its linearisation) then renders the image: alpha keeps it in the linear regime
    assert (out["psnr"] > 35).all() and out["reached"].all() and out["steps"].tolist() == [1] * 4
    rendered = render(GN, out["weights"], (8, 8))
    psnr = 10 * torch.log10(1 / ((rendered - images) ** 2).mean(dim=(1, 2)))
    assert torch.allclose(psnr, out["psnr"], atol=1e-3)
    # batched equals one by one, and the map computed inside fit_chunk equals the shared one
    alone = fit_chunk(GN, model, images[2:3], "cpu")
    assert torch.allclose(alone["weights"][0], out["weights"][2], atol=1e-6)
    # at alpha 1 the same step goes far from the init, where the network is not linear: far worse fields
    weak = fit_chunk({**GN, "LAZY_SCALE": 1.0}, model, images, "cpu")
    assert (weak["psnr"] < out["psnr"] - 10).all()


def test_refinement_takes_over_where_the_step_falls_short():
    torch.manual_seed(1)
    images = torch.rand(3, 8, 8)
    model = init_model(GN)
    low = {**GN, "LAZY_SCALE": 2.0}  # a weak scale: the step overshoots the linear regime
    step_only = fit_chunk(low, model, images, "cpu")
    cfg = {**low, "TARGET_PSNR": float(step_only["psnr"].min()) + 3, "REFINE_STEPS": 40, "REFINE_LR": 3e-3}
    refined = fit_chunk(cfg, model, images, "cpu")
    below = step_only["psnr"] < cfg["TARGET_PSNR"]
    assert below.any()
    assert (refined["steps"][below] > 1).all() and (refined["steps"][~below] == 1).all()
    assert (refined["psnr"][below] > step_only["psnr"][below] + 1).all()
    assert torch.equal(refined["weights"][~below], step_only["weights"][~below])  # the others are left as they were
    wild = fit_chunk({**cfg, "REFINE_LR": 10.0}, model, images, "cpu")  # a refinement that only makes things worse
    assert (wild["psnr"] >= step_only["psnr"] - 1e-4).all() and not wild["reached"][below].any()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    return _folder(_run([FIT, *TINY, f"--out={out}"]))


def test_torchrun_two_ranks_equal_single_process(single, tmp_path):
    proc = _run(["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", FIT, *TINY,
                 f"--out={tmp_path}"], cwd=tmp_path)  # fmt: skip
    run = _folder(proc)
    assert "rank 1/2" in proc.stdout
    a, meta_a = load_tensors(single / "weights.safetensors")
    b, meta_b = load_tensors(run / "weights.safetensors")
    assert a.keys() == b.keys() and meta_a["fingerprint"] == meta_b["fingerprint"]
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), atol=1e-5), k
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["fields"] == 260 and summary["mean_psnr"] > 40
    assert summary["unreached"] == 0 and summary["mean_steps"] == 1.0  # the Gauss-Newton step alone sufficed
    assert (run / "figures" / "fields.png").stat().st_size > 0


def _metrics(run: Path) -> list[dict]:
    return MetricsLog.read(run / "metrics.csv")


def test_metrics_time_each_chunk_when_it_ended(single):
    rows = _metrics(single)
    wall = json.loads((single / "summary.json").read_text())["wall_time_s"]
    assert [int(r["chunk"]) for r in rows] == [0, 1, 2, 3, 4]  # 260 networks in chunks of 64
    times, own = [float(r["time_s"]) for r in rows], [float(r["chunk_s"]) for r in rows]
    for i in range(1, 5):  # one process fits the chunks in order: each ends its own seconds after the one before
        assert times[i] >= times[i - 1] + own[i] - 2e-3
    assert len(set(times)) == 5 and 0 < times[0] <= times[-1] <= wall + 2e-3


def test_resumed_fit_equals_uninterrupted(single, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(single, run)
    for name in ("chunk_00001.safetensors", "chunk_00003.safetensors"):  # as if killed before these
        (run / "chunks" / name).unlink()
    (run / "weights.safetensors").unlink()
    (run / "summary.json").unlink()
    config = (run / "config.json").read_bytes()
    before = {int(r["chunk"]): float(r["time_s"]) for r in _metrics(single)}
    proc = _run([FIT, f"--resume={run}", "--progress=true"])
    assert _folder(proc) == run and proc.stdout.count("fields in") == 2  # only the two missing chunks
    a, _ = load_tensors(single / "weights.safetensors")
    b, _ = load_tensors(run / "weights.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # config.json stays the run's record; the resume and what it changed are logged beside it
    assert (run / "config.json").read_bytes() == config
    resumes = json.loads((run / "resumes.json").read_text())
    assert len(resumes) == 1 and resumes[0]["changed"] == {"PROGRESS": [False, True]}
    # kept chunks keep their times; the refitted ones end after the fit time the kept ones had taken
    after = {int(r["chunk"]): float(r["time_s"]) for r in _metrics(run)}
    assert all(after[c] == pytest.approx(before[c], abs=1e-3) for c in (0, 2, 4))
    assert min(after[1], after[3]) > max(before[0], before[2], before[4])
    # a chunk written under other settings is refused, not mixed in
    t, meta = load_tensors(run / "chunks" / "chunk_00000.safetensors")
    save_tensors(run / "chunks" / "chunk_00000.safetensors", t, {**meta, "fingerprint": "other"})
    proc = _run([FIT, f"--resume={run}", "--progress=false"])
    assert proc.returncode == 2 and "written under another configuration" in proc.stderr


def test_classify_beats_chance_and_refuses_a_foreign_file(single, tmp_path):
    proc = _run([CLASSIFY, f"--data={single}", "--hidden=64", "--epochs=25", "--progress=false", f"--out={tmp_path}"])
    s = json.loads((_folder(proc) / "summary.json").read_text())
    assert s["n_train"] == 200 and s["n_test"] == 60 and s["k"] == 10
    assert s["knn_accuracy"] > 0.6 and s["classifier_accuracy"] > 0.5  # chance: 0.1
    assert s["knn_cosine_accuracy"] > 0.6
    assert s["knn_pixels_accuracy"] > 0.6 and s["classifier_pixels_accuracy"] > 0.5
    assert (_folder(proc) / "figures" / "confusion.png").stat().st_size > 0
    t, meta = load_tensors(single / "weights.safetensors")
    cfg = json.loads(meta["config"])
    foreign = tmp_path / "foreign.safetensors"  # weights of another architecture under this config
    save_tensors(foreign, {**t, "weights": t["weights"][:, :-4]}, meta)
    proc = _run([CLASSIFY, f"--data={foreign}", f"--out={tmp_path}"])
    assert proc.returncode == 2 and "weights per network, but its config" in proc.stderr
    save_tensors(foreign, t, {**meta, "config": json.dumps({**cfg, "WIDTHS": [8, 8]})})  # config edited
    proc = _run([CLASSIFY, f"--data={foreign}", f"--out={tmp_path}"])
    assert proc.returncode == 2 and "fingerprint mismatch" in proc.stderr
    assert len(list((tmp_path / "weight_space_classify").iterdir())) == 1  # the refused files left no run


def test_unreachable_target_is_flagged(tmp_path):
    args = [a for a in TINY if not a.startswith(("--limit", "--target"))]
    proc = _run([FIT, *args, "--limit_train=6", "--limit_test=2", "--target_psnr=200", "--refine_steps=5",
                 f"--out={tmp_path}"])  # fmt: skip
    run = _folder(proc)
    s = json.loads((run / "summary.json").read_text())
    assert s["unreached"] == 8 and "ended below 200.0 dB at their step limit" in proc.stdout
    t, _ = load_tensors(run / "weights.safetensors")
    assert not t["reached"].any()
    # the Gauss-Newton step, then 5 refinements where they raised the PSNR (kept only then: never worse)
    assert set(t["steps"].tolist()) <= {1, 6}
    proc = _run([FIT, *args, "--solver=gauss-newton", "--lazy_scale=0", f"--out={tmp_path}"])
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --solver=gauss-newton needs --lazy_scale > 0"


def test_standardise_leaves_never_varying_features_at_zero():
    from oinr.downstream.classifiers import standardise

    train = np.array([[0.0, 1.0, 0.3], [0.0, 3.0, 0.3], [0.0, 5.0, 0.3]])  # features 0 and 2 never vary
    test = np.array([[0.7, 4.0, 0.3], [0.0, 1.0, 1.0]])
    ztr, zte = standardise(train, test)
    sd = np.std([1.0, 3.0, 5.0])
    assert np.array_equal(ztr[:, 0], [0, 0, 0]) and np.array_equal(ztr[:, 2], [0, 0, 0])
    assert np.array_equal(zte[:, 0], [0, 0]) and np.array_equal(zte[:, 2], [0, 0])  # not 0.7 / 1e-6
    assert np.allclose(ztr[:, 1], [-2 / sd, 0, 2 / sd]) and np.allclose(zte[:, 1], [1 / sd, -2 / sd])


def test_a_run_too_large_for_memory_is_refused_with_the_chunk_that_fits(monkeypatch):
    import oinr.fit.memory
    from oinr.downstream.weightspace import check_run_fits

    model = init_model(GN)
    cfg = {**GN, "CHUNK": 4096}
    need = check_run_fits(cfg, model, 70000, (28, 28), "cpu")  # fits this machine
    monkeypatch.setattr(
        oinr.fit.memory, "available_bytes", lambda device="cpu": int(need * 0.9 / oinr.fit.memory.HEADROOM)
    )
    with pytest.raises(UserError, match=r"in chunks of 4096 need about .* lower --chunk to \d+") as e:
        check_run_fits(cfg, model, 70000, (28, 28), "cpu")
    smaller = int(str(e.value).rsplit(" ", 1)[1])
    assert 0 < smaller < 4096 and check_run_fits({**cfg, "CHUNK": smaller}, model, 70000, (28, 28), "cpu") > 0
    monkeypatch.setattr(oinr.fit.memory, "available_bytes", lambda device="cpu": 1 << 20)
    with pytest.raises(UserError, match="fit fewer images"):
        check_run_fits(cfg, model, 70000, (28, 28), "cpu")


@pytest.mark.parametrize("local_rank", [0, 1])
def test_each_rank_uses_its_own_gpu_for_every_collective(monkeypatch, local_rank):
    """Without a GPU: torch.cuda and torch.distributed mocked; what each call received is recorded."""
    import torch.distributed as dist

    from oinr.fit.distributed import init_distributed
    from oinr.fit.runs import pick_device

    calls, current = [], {}
    env = {"WORLD_SIZE": "2", "RANK": str(local_rank), "LOCAL_RANK": str(local_rank), "LOCAL_WORLD_SIZE": "2"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: (calls.append(("set_device", d)), current.update(d=d)))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current["d"].index)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.append(("init", backend, kw)))
    monkeypatch.setattr(dist, "get_rank", lambda: local_rank)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append(("destroy",)))

    def broadcast(box, src, device=None):
        calls.append(("broadcast", device))
        box[0] = "run-folder"

    def all_gather(out, value):  # all_gather_object stages its bytes on the current CUDA device
        calls.append(("all_gather", torch.cuda.current_device()))
        out[:] = [value] * len(out)

    monkeypatch.setattr(dist, "broadcast_object_list", broadcast)
    monkeypatch.setattr(dist, "all_gather_object", all_gather)
    monkeypatch.setattr(dist, "barrier", lambda device_ids=None: calls.append(("barrier", device_ids)))

    mine = torch.device("cuda", local_rank)
    group = init_distributed(pick_device("auto"))
    assert (group.rank, group.world, group.device) == (local_rank, 2, mine)
    assert calls[0] == ("set_device", mine)  # the rank's GPU is current before the process group starts
    assert calls[1][:2] == ("init", "nccl") and calls[1][2]["device_id"] == mine
    assert group.on_rank_zero(lambda: "run-folder") == "run-folder"
    assert group.gather(local_rank * 10) == [local_rank * 10] * 2
    group.agree(None)
    group.close()
    collectives = [c for c in calls if c[0] in ("broadcast", "barrier", "all_gather")]
    at = [("barrier", [local_rank]), ("all_gather", local_rank)]  # gather, then agree (a gather)
    assert collectives == [("broadcast", mine), *at, *at]
    assert calls[-1] == ("destroy",)
    # a device that is not this rank's GPU, and more processes than GPUs, are refused before the group starts
    calls.clear()
    with pytest.raises(UserError, match="each process takes cuda:LOCAL_RANK"):
        init_distributed(torch.device("cuda", 1 - local_rank))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match="2 processes on this host but 1 GPUs"):
        init_distributed(torch.device("cuda", 0))
    assert calls == []


def test_the_memory_check_counts_the_processes_on_a_host(monkeypatch):
    import oinr.fit.memory
    from oinr.downstream.weightspace import check_run_fits
    from oinr.fit.memory import fit_bytes

    model = init_model(GN)
    cfg = {**GN, "CHUNK": 512}
    one = check_run_fits(cfg, model, 70000, (28, 28), "cpu", ranks=1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")  # torchrun --nproc_per_node=3
    three = check_run_fits(cfg, model, 70000, (28, 28), "cpu")
    p = sum(q.numel() for q in model.parameters())
    per_rank = 70000 * 784 * 4 + 784 * p * 8 * 3 + 512 * fit_bytes(model, (28, 28), 1)  # images, map, chunk
    assert three - one == 2 * per_rank
    # memory for one process but not for three: refused, naming the processes
    monkeypatch.setattr(
        oinr.fit.memory, "available_bytes", lambda device="cpu": int((one + three) / 2 / oinr.fit.memory.HEADROOM)
    )
    assert check_run_fits(cfg, model, 70000, (28, 28), "cpu", ranks=1) == one
    with pytest.raises(UserError, match="with 3 processes on this host"):
        check_run_fits(cfg, model, 70000, (28, 28), "cpu")


def test_validation_split_is_the_end_of_the_training_split_and_leaves_the_test_split_out():
    from oinr.data.idx import load_dataset
    from oinr.downstream.weightspace import TEST, TRAIN, VALIDATION, dataset_images, scored_rows

    sp = load_dataset("digits")  # 1347 training, 450 test images
    images, labels, split, index, _ = dataset_images({"DATA": "digits", "LIMIT_TRAIN": 50, "VAL": 30})
    assert split.tolist() == [TRAIN] * 50 + [VALIDATION] * 30  # no test image
    assert index.tolist() == list(range(50)) + list(range(1317, 1347))
    assert torch.equal(images[50:], torch.from_numpy(sp.train_x[1317:])) and labels[50:].tolist() == list(
        sp.train_y[1317:]
    )
    tr, sc, name = scored_rows(split, index, {"VAL": 30})
    assert name == "validation" and tr.sum() == 50 and sc.tolist() == [False] * 50 + [True] * 30
    with pytest.raises(UserError, match="use --val=30 or 0"):
        scored_rows(split, index, {"VAL": 30}, val=20)
    # carved from a file fitted to every training image: the same images, and the test networks not scored
    _, _, split, index, _ = dataset_images({"DATA": "digits", "LIMIT_TEST": 5})
    tr, sc, name = scored_rows(split, index, {"LIMIT_TRAIN": 0}, val=30)
    assert name == "validation" and index[torch.from_numpy(sc)].tolist() == list(range(1317, 1347))
    assert tr.sum() == 1317 and not (tr | sc)[split.numpy() == TEST].any()
    tr, sc, name = scored_rows(split, index, {})
    assert name == "test" and sc.sum() == 5 and tr.sum() == 1347
    with pytest.raises(UserError, match="holds only the first 200 training images"):
        scored_rows(split, index, {"LIMIT_TRAIN": 200}, val=30)
    with pytest.raises(UserError, match="exceed 1317/450 \\(the last 30 training images"):
        dataset_images({"DATA": "digits", "LIMIT_TRAIN": 1318, "VAL": 30})


SEEDED = [a for a in TINY if not a.startswith(("--limit", "--chunk"))] + ["--chunk=512", "--limit_test=5"]


def test_validation_runs_seeds_and_classify_never_scoring_the_test_split(tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    # every training image (1347) and 5 test images, under two init seeds, into seed_0/ and seed_1/
    full = _folder(_run([FIT, *SEEDED, "--seeds=0,1", f"--out={tmp_path}"]))
    s = json.loads((full / "summary.json").read_text())
    assert s["seeds"] == [0, 1] and s["n_train"] == 1347 and s["n_test"] == 5 and len(s["mean_psnr_per_seed"]) == 2
    (a, ma), (b, mb) = (load_tensors(full / f"seed_{i}" / "weights.safetensors") for i in (0, 1))
    assert [json.loads(m["config"])["SEED"] for m in (ma, mb)] == [0, 1] and not torch.equal(a["init"], b["init"])
    assert [r["seed"] for r in _metrics(full)] == ["0"] * 3 + ["1"] * 3  # 1352 networks in chunks of 512
    # the last 100 training networks as the validation split; two classifier seeds
    proc = _run([CLASSIFY, f"--data={full}", "--val=100", "--seeds=0,1", "--hidden=16", "--epochs=3",
                 "--progress=false", f"--out={tmp_path}"])  # fmt: skip
    c = json.loads((_folder(proc) / "summary.json").read_text())
    assert c["scored"] == "validation" and (c["n_train"], c["n_val"], c["n_test"]) == (1247, 100, 0)
    assert (c["init_seeds"], c["classifier_seeds"]) == (2, 2) and len(c["per_file"][1]["classifier_accuracy"]) == 2
    knn = []
    for t in (a, b):  # the paper's kNN by hand on the same split: first 1247 training networks vs the last 100
        tr, va = (t["split"] == 0) & (t["index"] < 1247), (t["split"] == 0) & (t["index"] >= 1247)
        pred = KNeighborsClassifier(n_neighbors=10).fit(t["weights"][tr].double(), t["labels"][tr])
        knn.append(float((pred.predict(t["weights"][va].double()) == t["labels"][va].numpy()).mean()))
    assert c["knn_accuracy"] == pytest.approx(np.mean(knn)) and c["knn_accuracy_sd"] == pytest.approx(
        np.std(knn, ddof=1)
    )
    # a run made with --val=100 holds the same training and validation networks (a fit depends only on the
    # shared init and its image), no test network, and classify scores it alike
    val = _folder(_run([FIT, *SEEDED, "--val=100", f"--out={tmp_path}"]))
    v, _ = load_tensors(val / "weights.safetensors")
    assert v["split"].tolist() == [0] * 1247 + [2] * 100
    assert torch.allclose(v["weights"], a["weights"][:1347], atol=1e-6)
    proc = _run([CLASSIFY, f"--data={val}", "--hidden=16", "--epochs=3", "--progress=false", f"--out={tmp_path}"])
    cv = json.loads((_folder(proc) / "summary.json").read_text())
    assert cv["scored"] == "validation" and cv["n_val"] == 100 and cv["knn_accuracy"] == pytest.approx(knn[0])


def test_selection_picks_the_best_candidate_on_the_validation_split(tmp_path):
    select = ROOT / "downstream" / "weight_space" / "selection.py"
    grids = ["--grid=WIDTHS=(4,4),OCTAVES=2,REFINE_STEPS=0,LAZY_SCALE=1|64",
             "--classifier_grid=K=1|10,HIDDEN=16,EPOCHS=3|6"]  # fmt: skip
    proc = _run([select, "--val=60", "--train=150", "--seeds=0,1", "--threads=1", f"--out={tmp_path}", *grids])
    run = _folder(proc)
    s, rows = json.loads((run / "summary.json").read_text()), _metrics(run)
    assert s["scored"] == "validation" and (s["n_train"], s["n_val"]) == (150, 60)
    for stage, key in (("fit", "fit"), ("weights knn", "weights_knn"), ("pixels mlp", "pixels_mlp")):
        mine = [r for r in rows if r["stage"] == stage]
        top = max(mine, key=lambda r: float(r["accuracy"]))
        assert len(mine) == 2 and s[f"{key}_accuracy"] == pytest.approx(float(top["accuracy"]), abs=1e-6)
    # the chosen fit's score is the mean over its init seeds of the paper's kNN on the validation split
    from oinr.downstream.classifiers import knn_accuracy
    from oinr.downstream.weightspace import dataset_images, fit_images, scored_rows
    from oinr.fit.config import script_defaults

    base = {**script_defaults(FIT), **s["fit"], "DATA": "digits", "LIMIT_TRAIN": 150, "VAL": 60}
    images, labels, split, index, _ = dataset_images(base)
    tr, va, _ = scored_rows(split, index, base)
    y, acc = labels.numpy(), []
    for seed in (0, 1):
        w = fit_images({**base, "SEED": seed}, init_model({**base, "SEED": seed}), images, "cpu")["weights"].double()
        acc.append(knn_accuracy(w[tr].numpy(), y[tr], w[va].numpy(), y[va], 10)[0])
    assert s["fit_accuracy"] == pytest.approx(np.mean(acc), abs=1e-9)
    proc = _run([select, "--grid=SEED=3", f"--out={tmp_path}"])
    assert proc.returncode == 2 and "this script's own settings" in proc.stderr
