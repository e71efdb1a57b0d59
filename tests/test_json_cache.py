"""The shared cache of what a night works out about the base model: whole or absent, never wrong."""

from ondevice import json_cache


def test_a_value_is_read_back_only_for_the_inputs_it_was_made_for(tmp_path):
    cache = tmp_path / "nested" / "replay-sha.json"
    key = json_cache.cache_key("system prompt", ["Where is milk kept?"], 48)
    assert json_cache.read(cache, key) is None  # nothing yet
    assert json_cache.write(cache, key, [["Where is milk kept?", "In the fridge."]])
    assert json_cache.read(cache, key) == [["Where is milk kept?", "In the fridge."]]
    other = json_cache.cache_key("system prompt", ["Where is milk kept?"], 64)
    assert other != key and json_cache.read(cache, other) is None
    assert json_cache.cache_key("Tromsø") != json_cache.cache_key("Tromso")


def test_a_cut_off_or_foreign_file_counts_as_absent(tmp_path):
    cache, key = tmp_path / "yardstick-sha.json", json_cache.cache_key(["a text"])
    for damaged in ('{"key": ', "[1, 2]", '{"key": "%s"}' % key, "\udcff".encode("utf-8", "surrogatepass")):
        if isinstance(damaged, bytes):
            cache.write_bytes(damaged)
        else:
            cache.write_text(damaged)
        assert json_cache.read(cache, key) is None
    assert json_cache.write(cache, key, 0.004) and json_cache.read(cache, key) == 0.004  # rewritten whole


def test_an_unwritable_place_keeps_nothing_and_raises_nothing(tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    cache = not_a_folder / "general-base-sha.json"
    assert json_cache.write(cache, "key", [True, False]) is False
    assert json_cache.read(cache, "key") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
