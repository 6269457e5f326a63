"""Memory stays flat in the number of intervals: batches are written as they are scored."""
import memory   # benchmarks/memory.py (pytest.ini puts benchmarks/ on the path)


def test_peak_memory_does_not_grow_with_intervals(tmp_path):
    runs = {}
    for name, n in (("small", 300), ("large", 3000)):
        (tmp_path / name).mkdir()
        runs[name] = memory.measure(tmp_path / name, n, length=1000, references=2)
    small, large = runs["small"], runs["large"]
    # Keeping the results in memory would add about 3000 x 1000 x 4 float32 per array
    # (46 MiB for the contributions alone, as much again for the inputs).
    assert large["output_mib"] > 5 * small["output_mib"]
    assert large["peak_mib"] - small["peak_mib"] < 30, (small, large)
