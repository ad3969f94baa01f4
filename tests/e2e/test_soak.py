"""A light soak in CI: the demo exporter over HTTP keeps its memory, threads and fds.

The full soak (2,000 scrapes, about two minutes) is ``.venv/bin/python -m tests.soak``.
"""

from tests import soak


def test_scraping_the_demo_over_http_grows_neither_memory_threads_nor_fds():
    result = soak.run(scrapes=150, warmup=50)
    print(result.summary())
    assert result.rss_growth <= 0.10, result.summary()
    assert result.at_end.threads <= result.after_warmup.threads, result.summary()
    assert result.at_end.fds <= result.after_warmup.fds, result.summary()
