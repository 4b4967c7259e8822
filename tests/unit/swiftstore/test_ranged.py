"""swiftstore.ranged: how a large SLO is cut into windows (reading them: tests/integration/test_ranged_get.py)."""
from swiftstore import ranged

MIB = 1 << 20


def test_windows_cover_the_file_in_whole_segments():
    def spans(size, seg):
        return [(w.first, w.last) for w in ranged.windows(size, seg)]
    assert spans(10, 4) == [(0, 3), (4, 7), (8, 9)]
    assert spans(16, 4) == [(0, 3), (4, 7), (8, 11), (12, 15)]
    assert spans(17, 2) == [(0, 5), (6, 11), (12, 16)]
    for size, seg in ((10 * MIB + 1, MIB), (7, 1), (1 << 40, 128 * MIB)):
        ws = spans(size, seg)
        assert len(ws) <= ranged.WINDOWS and ws[0][0] == 0 and ws[-1][1] == size - 1
        assert all(b[0] == a[1] + 1 and a[0] % seg == 0 for a, b in zip(ws, ws[1:]))
