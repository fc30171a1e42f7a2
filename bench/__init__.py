"""`make bench`: the same fleet played three ways (bare Playwright, the engine, the whole
bot on a fake Telegram), side by side. See `bench.bench`."""
