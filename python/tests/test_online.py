"""Online runs against a fake ingestion endpoint: nothing lost, nothing stored twice."""

import math
import struct
import zlib

import pytest

from fake_endpoint import FakeEndpoint
from script_runner import run_script


def tiny_png():
    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"\x00\xff\x00\x00"  # one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def endpoint():
    # Of every 3 requests, one fails before being applied and one is applied but its answer is
    # lost, so the client must resend and the endpoint must ignore the resent batch.
    def fault(n):
        return {1: "fail", 2: "lose-ack"}.get(n % 3)

    server = FakeEndpoint(fault)
    yield server
    server.close()


def test_hundred_thousand_points_stored_once_in_order(endpoint):
    result = run_script(
        """
        import time
        from trainyard import Run
        run = Run.get_context()
        assert not run.offline and run.id == "run-1" and run.rank == 1
        elapsed = 0
        for chunk in range(10):  # spread over several flush intervals, so several batches
            start = time.perf_counter()
            for i in range(chunk * 10_000, (chunk + 1) * 10_000):
                run.log("loss", i * 0.5)
            elapsed += time.perf_counter() - start
            time.sleep(0.03)
        print(f"python log(): {elapsed / 100_000 * 1e6:.2f} us/call")
        # no flush: normal exit must deliver everything
        """,
        env=endpoint.env(RANK="1", TRAINYARD_FLUSH_INTERVAL="0.1"),
    )
    print(result.stdout)
    points = endpoint.points["loss"]
    assert len(points) == 100_000
    assert [p[0] for p in points] == list(range(100_000))
    assert all(p[3] == i * 0.5 for i, p in enumerate(points))
    assert all(p[2] == 1 for p in points)
    assert endpoint.duplicates > 0  # lost acknowledgements caused resends, which were ignored


def test_everything_else_round_trips(endpoint, tmp_path):
    (tmp_path / "plot.png").write_bytes(tiny_png())
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "a.txt").write_text("a")
    (tmp_path / "folder" / "sub" / "b.txt").write_text("b")
    result = run_script(
        f"""
        import math
        from trainyard import Run
        run = Run.get_context()
        assert run.experiment.name == "exp"
        run.log("special", float("nan"))
        run.log("special", float("inf"))
        run.log("special", float("-inf"))
        run.log_list("list", [1, 2, 3])
        run.log_row("epochs", epoch=1, loss=0.5, note="ok", best=True, extra=None)
        run.log_table("table", {{"a": [1, 2], "b": ["x", "y"]}})
        run.tag("mode", "fast")
        run.tag("flag")
        run.set_tags({{"lr": 0.1}})
        run.add_properties({{"commit": "abc"}})
        run.log_image("curve", path={str(tmp_path / "plot.png")!r})
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig = plt.figure()
            plt.plot([1, 2, 3])
            run.log_image("curve", plot=fig)
            print("matplotlib: yes")
        except ImportError:
            print("matplotlib: no")
        run.upload_file("outputs/model.bin", {str(tmp_path / "plot.png")!r})
        run.upload_folder("logs", {str(tmp_path / "folder")!r})
        metrics = run.get_metrics()
        s = metrics["special"]
        assert math.isnan(s[0]) and s[1] == math.inf and s[2] == -math.inf, s
        assert metrics["list"] == [1.0, 2.0, 3.0]
        assert run.get_metrics("list", full=True)[2]["step"] == 2
        print("ok")
        """,
        env=endpoint.env(),
    )
    assert "ok" in result.stdout, result.stdout
    special = [p[3] for p in endpoint.points["special"]]
    assert math.isnan(special[0]) and special[1:] == [math.inf, -math.inf]
    row = {"epoch": 1, "loss": 0.5, "note": "ok", "best": True, "extra": None}
    assert endpoint.rows[0] == ("epochs", 0, row)
    assert [r[2] for r in endpoint.rows[1:]] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert endpoint.tags == {"mode": "fast", "flag": None, "lr": "0.1"}
    assert endpoint.properties == {"commit": "abc"}
    assert endpoint.images[0] == ("curve", 0, "images/curve/0.png")
    assert endpoint.files["images/curve/0.png"] == tiny_png()
    assert endpoint.files["outputs/model.bin"] == tiny_png()
    assert endpoint.files["logs/a.txt"] == b"a" and endpoint.files["logs/sub/b.txt"] == b"b"
    if "matplotlib: yes" in result.stdout:
        assert endpoint.images[1] == ("curve", 1, "images/curve/1.png")
        assert endpoint.files["images/curve/1.png"].startswith(b"\x89PNG")


def test_killed_script_keeps_what_was_sent(endpoint):
    # Points logged more than a flush interval (0.5 s) before the kill are stored; the rest may
    # be lost, but nothing is stored twice.
    run_script(
        """
        import os, signal, time
        from trainyard import Run
        run = Run.get_context()
        for i in range(1000):
            run.log("before", i)
        run.flush()
        for i in range(500):
            run.log("waited", i)
        time.sleep(1.5)  # several intervals, and room for a retry after an injected failure
        for i in range(500):
            run.log("late", i)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        env=endpoint.env(),
        expect_returncode=-9,
    )
    assert [p[0] for p in endpoint.points["before"]] == list(range(1000))
    assert [p[0] for p in endpoint.points["waited"]] == list(range(500))
    assert len(endpoint.points.get("late", [])) in (0, 500)
