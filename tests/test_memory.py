"""Memory stays flat in the number of intervals: batches are written as they are scored."""
import memory   # benchmarks/memory.py (pytest.ini puts benchmarks/ on the path)


def test_peak_memory_does_not_grow_with_intervals(tmp_path):
    # Both runs are many batches long (256 sequences a batch): the first few batches fill the
    # pipeline (a batch read and its references made ahead, one in the pass, one written),
    # after which nothing more is held (measured: 1,500, 3,000 and 12,000 intervals peak at
    # 1269, 1275 and 1278 MiB; 300 intervals, two batches, at 1190).
    runs = {}
    for name, n in (("small", 1500), ("large", 6000)):
        (tmp_path / name).mkdir()
        runs[name] = memory.measure(tmp_path / name, n, length=1000, references=2)
    small, large = runs["small"], runs["large"]
    # Keeping the results in memory would add about 6000 x 1000 x 4 float32 per array
    # (92 MiB for the contributions alone, as much again for the inputs).
    assert large["output_mib"] > 3 * small["output_mib"]
    assert large["peak_mib"] - small["peak_mib"] < 30, (small, large)
