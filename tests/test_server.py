"""HTTP API: generate -> poll -> results, input validation, limits, queue and failures; melodies
found by text or uploaded, kept as the lead of a generation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from symusic import Score

from conftest import wait_for
from tunesmith.errors import ConfigError, PromptError
from tunesmith.generation import Generated, generate
from tunesmith.server import JobSpec, ServerConfig, create_app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def client(debug_checkpoint) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(checkpoint=debug_checkpoint, config=ServerConfig(sample_rate=16000))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def done_job(client: TestClient) -> dict[str, Any]:
    body = {"prompt": "a calm piece", "key": "C major", "tempo": 100, "instruments": ["piano"],
            "bars": 2, "seed": 3}
    res = client.post("/api/generate", json=body)
    assert res.status_code == 202, res.text
    job = wait_for(client, res.json()["job_id"])
    assert job["status"] == "done", job["error"]
    return job


def test_generate_poll_and_download(client: TestClient, done_job: dict[str, Any]) -> None:
    jid = done_job["job_id"]
    assert done_job["progress"] == 1.0
    assert done_job["requested"]["bars"] == 2
    midi = client.get(f"/api/jobs/{jid}/midi")
    assert midi.status_code == 200 and midi.headers["content-type"] == "audio/midi"
    assert "attachment" in midi.headers["content-disposition"]
    score = Score.from_midi(midi.content)
    assert score.note_num() > 0
    assert {t.program for t in score.tracks if not t.is_drum} == {0}  # piano only, as asked
    wav = client.get(f"/api/jobs/{jid}/wav").content
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    png = client.get(f"/api/jobs/{jid}/pianoroll.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(PNG_MAGIC)


def test_features_compare_requested_with_detected(client: TestClient, done_job: dict) -> None:
    report = client.get(f"/api/jobs/{done_job['job_id']}/features").json()
    assert report["requested"]["key"] == "C major"
    assert report["requested"]["mood"] == "calm"  # from the prompt text
    assert report["requested"]["instrument_names"] == ["Piano"]
    assert report["detected"]["tempo"] == pytest.approx(100.0)  # the exact tempo is written
    assert report["detected"]["instruments"] == ["Piano"]
    assert 0.0 <= report["masked_share"] <= 1.0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "x", "tempo": 0}, "tempo 0 bpm is out of range"),
        ({"prompt": "x", "instruments": ["kazoo-phone"]}, "instrument 'kazoo-phone' is unknown"),
        ({"prompt": "x", "instruments": []}, "instrument list is empty"),
        ({"prompt": "x", "key": "H major"}, "key 'H major' is unknown"),
        ({"prompt": "x", "time_signature": "13/16"}, "time signature '13/16'"),
        ({"prompt": "x", "bars": 500}, "500 bars is out of range"),
        ({"prompt": "x", "temperature": 0}, "temperature 0"),
        ({"prompt": "x", "drum_temperature": 9}, "drum_temperature 9"),
        ({"prompt": "x", "groove": -1}, "groove -1"),
        ({"prompt": "x", "drums": "loop"}, "drums 'loop' is not one of groove, model"),
        ({"prompt": "x", "texture": "thin"}, "texture 'thin' is not one of stated, held, off"),
        ({"prompt": "x", "feel": "swing"}, "feel 'swing' is not one of straight, human"),
        ({"prompt": "x", "lead": "drums"}, "lead 'drums': name one pitched instrument"),
        ({"prompt": "x", "instruments": ["piano"], "lead": "trumpet"},
         "lead Trumpet is not among the instruments (Piano)"),
        ({"prompt": "x", "order": "random"}, "order 'random' is not one of interleaved, trackwise"),
        ({"prompt": "x", "seed": -1}, "seed -1 is out of range"),
        ({"prompt": "x", "candidates": 9}, "candidates 9 is out of range: allowed 1..4"),
        ({"prompt": "y" * 1001}, "1001 characters is too long"),
    ],
)
def test_bad_requests_are_400_with_a_message(client: TestClient, body: dict, needle: str) -> None:
    res = client.post("/api/generate", json=body)
    assert res.status_code == 400
    assert needle in res.json()["detail"]


def test_malformed_bodies_are_422(client: TestClient) -> None:
    assert client.post("/api/generate").status_code == 422
    assert client.post("/api/generate", json={"prompt": "x", "colour": "red"}).status_code == 422
    assert client.post("/api/generate", json={"prompt": "x", "tempo": "fast"}).status_code == 422


def test_oversize_request_is_413(client: TestClient) -> None:
    big = b"MThd" + b"\0" * (2 * 1024 * 1024)
    res = client.post("/api/render", files={"file": ("big.mid", big, "audio/midi")})
    assert res.status_code == 413 and "too large" in res.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts streamed bytes
        for _ in range(40):
            yield b"{" * 65536

    json_type = {"content-type": "application/json"}
    res = client.post("/api/generate", content=chunks(), headers=json_type)
    assert res.status_code == 413


def test_render_upload_gives_wav(client: TestClient, band_score: Score) -> None:
    data = bytes(band_score.dumps_midi())
    res = client.post("/api/render", files={"file": ("../../etc/passwd", data, "audio/midi")})
    assert res.status_code == 200 and res.headers["content-type"] == "audio/wav"
    assert res.content[:4] == b"RIFF" and len(res.content) > 44


@pytest.mark.parametrize(
    ("data", "needle"),
    [(b"hello, not midi", "no MThd header"), (b"MThd\x00\x00\x00\x06\x00\x01\xff", "corrupt"),
     (b"", "empty")],
)
def test_corrupt_upload_is_400_one_line(client: TestClient, data: bytes, needle: str) -> None:
    res = client.post("/api/render", files={"file": ("x.mid", data, "audio/midi")})
    assert res.status_code == 400
    detail = res.json()["detail"]
    assert needle in detail and "\n" not in detail and detail.startswith("uploaded MIDI")


def test_unknown_job_is_404(client: TestClient) -> None:
    for suffix in ("", "/midi", "/wav", "/pianoroll.png", "/features"):
        assert client.get(f"/api/jobs/0123abcd{suffix}").status_code == 404
    assert client.get("/api/jobs/..%2F..%2Fetc%2Fpasswd/midi").status_code == 404


def test_page_is_served_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="prompt"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from outside
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        res = client.get(asset)
        assert res.status_code == 200 and "https://" not in res.text
    options = client.get("/api/options").json()
    assert "C major" in options["keys"] and "Drums" in options["instruments"]


def blocking_work(debug_checkpoint, started: threading.Event,  # type: ignore[no-untyped-def]
                  release: threading.Event) -> Callable[..., Generated]:
    """A work step that waits for `release`, then crashes, fails or generates by prompt."""

    def work(spec: JobSpec, on_step: Callable[[int], None]) -> Generated:
        started.set()
        assert release.wait(30)
        if spec.prompt == "crash":
            raise RuntimeError("simulated bug")
        if spec.prompt == "refuse":
            raise PromptError("simulated refusal")
        return generate(spec.request, checkpoint=debug_checkpoint, on_step=on_step)[0]

    return work


def test_queue_full_is_429_and_failures_stay_in_their_job(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    started, release = threading.Event(), threading.Event()
    config = ServerConfig(queue_size=1, max_jobs_kept=8, sample_rate=16000)
    app = create_app(config=config, work=blocking_work(debug_checkpoint, started, release))
    with TestClient(app) as c:
        first = c.post("/api/generate", json={"prompt": "crash"}).json()["job_id"]
        assert started.wait(10)  # the worker holds the first job: the queue is empty again
        assert c.get(f"/api/jobs/{first}").json()["status"] == "running"
        second = c.post("/api/generate", json={"prompt": "refuse"}).json()["job_id"]
        full = c.post("/api/generate", json={"prompt": "one too many"})
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1
        assert "queue is full" in full.json()["detail"]
        assert c.get(f"/api/jobs/{second}/midi").status_code == 409  # queued, not ready
        release.set()
        crashed, refused = wait_for(c, first), wait_for(c, second)
        assert crashed["status"] == "failed" and "internal error" in crashed["error"]
        assert "Traceback" not in crashed["error"]
        assert refused["status"] == "failed" and refused["error"] == "simulated refusal"
        assert c.get(f"/api/jobs/{first}/wav").status_code == 409
        # The worker survived the crash: the next job succeeds.
        ok = c.post("/api/generate", json={"prompt": "piano", "bars": 1})
        assert wait_for(c, ok.json()["job_id"])["status"] == "done"
        assert not any(p.name.startswith(".") for p in app.state.jobs.root.rglob("*"))
        assert not (app.state.jobs.root / first).exists()  # no partial results of failed jobs


def test_job_timeout_fails_the_job(debug_checkpoint) -> None:  # type: ignore[no-untyped-def]
    app = create_app(checkpoint=debug_checkpoint, config=ServerConfig(job_timeout_s=1e-9))
    with TestClient(app) as c:
        job = wait_for(c, c.post("/api/generate", json={"prompt": "x", "bars": 1}).json()["job_id"])
    assert job["status"] == "failed" and "time limit" in job["error"]


def test_server_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="queue_size 0"):
        ServerConfig(queue_size=0)
    with pytest.raises(ConfigError, match="max_jobs_kept"):
        ServerConfig(queue_size=8, max_jobs_kept=4)


# --- infill, continue, upload ---------------------------------------------------------------
Q = 480


def four_bars() -> Score:
    """Four bars of piano chords, a bass line and a drum beat (as tests/test_infill.py)."""
    from conftest import make_score

    piano = [(b * 4 * Q + i * 2 * Q, 2 * Q, p, 70) for b in range(4) for i in range(2) for p in (60, 64, 67)]
    bass = [(i * Q, Q, 36 + (i % 2) * 7, 90) for i in range(16)]
    drums = [(i * Q, Q // 4, 36 if i % 2 == 0 else 38, 100) for i in range(16)]
    return make_score([(0, False, piano), (33, False, bass), (0, True, drums)], tempo=96.0)


def midi_b64(score: Score) -> str:
    import base64

    return base64.b64encode(bytes(score.dumps_midi())).decode()


def track_notes(score: Score, program: int, drum: bool = False) -> list[tuple[int, int, int]]:
    scale = Q / score.ticks_per_quarter
    return sorted((round(n.time * scale), n.pitch, round(n.duration * scale)) for t in score.tracks
                  if t.is_drum == drum and (drum or t.program == program) for n in t.notes)


@pytest.fixture(scope="module")
def edit_client(debug_checkpoint) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    config = ServerConfig(sample_rate=16000, decoder="numpy")  # no engine conversion in tests
    with TestClient(create_app(checkpoint=debug_checkpoint, config=config)) as c:
        yield c


def finished(client: TestClient, res: Any) -> dict[str, Any]:
    assert res.status_code == 202, res.text
    job = wait_for(client, res.json()["job_id"])
    assert job["status"] == "done", job["error"]
    return job


def test_an_edits_feel_times_only_the_notes_it_writes(edit_client: TestClient) -> None:
    source = four_bars()
    out = {}
    for feel in ("straight", "human"):
        body = {"midi": midi_b64(source), "bars": "2-3", "tracks": ["drums"], "seed": 1, "feel": feel}
        job = finished(edit_client, edit_client.post("/api/infill", json=body))
        out[feel] = Score.from_midi(edit_client.get(f"/api/jobs/{job['job_id']}/midi").content)
    gap = (4 * Q, 12 * Q)
    drums = {f: track_notes(s, 0, drum=True) for f, s in out.items()}
    outside = {f: [n for n in d if not gap[0] <= n[0] < gap[1]] for f, d in drums.items()}
    assert outside["human"] == outside["straight"] == [n for n in track_notes(source, 0, drum=True)
                                                       if not gap[0] <= n[0] < gap[1]]
    assert drums["human"] != drums["straight"]  # the written bars moved off the grid
    assert track_notes(out["human"], 33) == track_notes(source, 33)  # other tracks untouched
    bad = edit_client.post("/api/continue", json={"midi": midi_b64(source), "feel": "swing"})
    assert bad.status_code == 400 and "feel 'swing' is not one of straight, human" in bad.text


def test_infill_keeps_every_note_outside_the_gap(edit_client: TestClient) -> None:
    source = four_bars()
    body = {"midi": midi_b64(source), "bars": "2-3", "tracks": ["bass"], "density": 4,
            "polyphony": "1-2", "durations": ["quarter", "eighth"], "seed": 1}
    job = finished(edit_client, edit_client.post("/api/infill", json=body))
    out = Score.from_midi(edit_client.get(f"/api/jobs/{job['job_id']}/midi").content)
    assert track_notes(out, 0) == track_notes(source, 0)  # untouched tracks: identical
    assert track_notes(out, 0, drum=True) == track_notes(source, 0, drum=True)
    gap = (4 * Q, 12 * Q)
    bass, was = track_notes(out, 33), track_notes(source, 33)
    assert [n for n in bass if not gap[0] <= n[0] < gap[1]] == [n for n in was
                                                              if not gap[0] <= n[0] < gap[1]]
    report = edit_client.get(f"/api/jobs/{job['job_id']}/features").json()
    assert report["edit"]["kind"] == "infill" and report["edit"]["bars"] == [2, 3]
    assert report["edit"]["tracks"] == ["Electric Bass"]
    assert report["edit"]["controls"] == {"density": 4, "polyphony": [1, 2],
                                          "durations": ["quarter", "eighth"]}


def test_upload_then_infill_and_continue_by_job_id(edit_client: TestClient) -> None:
    data = bytes(four_bars().dumps_midi())
    up = finished(edit_client, edit_client.post(
        "/api/upload", files={"file": ("sketch.mid", data, "audio/midi")}))
    report = edit_client.get(f"/api/jobs/{up['job_id']}/features").json()
    assert len(report["bar_lines"]) == 5  # 4 bars: the page maps clicks to bars with these
    lines = report["bar_lines"]
    assert lines[0] > 0 and lines[-1] < 1 and lines == sorted(set(lines))
    assert [t["program"] for t in report["tracks"]] == [0, 33, 128]
    # multipart, as a form sends it: fields are strings, empty ones mean "not set"
    form = {"job_id": up["job_id"], "bars": "4", "tracks": "128", "density": "", "seed": "2"}
    fill = finished(edit_client, edit_client.post("/api/infill", data=form))
    out = Score.from_midi(edit_client.get(f"/api/jobs/{fill['job_id']}/midi").content)
    assert track_notes(out, 0) == track_notes(four_bars(), 0)
    assert edit_client.get(f"/api/jobs/{fill['job_id']}/features").json()["edit"]["source"] == up["job_id"]
    more = finished(edit_client, edit_client.post("/api/continue",
                                                  json={"job_id": fill["job_id"], "bars": 2}))
    longer = edit_client.get(f"/api/jobs/{more['job_id']}/features").json()
    assert len(longer["bar_lines"]) > 5 and longer["edit"] == {"kind": "continue", "source":
                                                                fill["job_id"], "new_bars": 2}
    png = edit_client.get(f"/api/jobs/{more['job_id']}/pianoroll.png").content
    assert png.startswith(PNG_MAGIC)


def test_edits_of_a_planned_piece_keep_its_sections(edit_client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesmith.server.jobs as jobs_module

    drawn: list[tuple[tuple[str, int, int], ...]] = []  # each job's piano-roll sections

    def spy(score: Score, **kwargs: Any) -> bytes:
        drawn.append(tuple(kwargs.get("sections") or ()))
        return draw_pianoroll(score, **kwargs)

    draw_pianoroll = jobs_module.draw_pianoroll
    monkeypatch.setattr(jobs_module, "draw_pianoroll", spy)
    body = {"prompt": "a calm piece", "instruments": ["piano"], "bars": 8, "form": "AABA", "seed": 1}
    piece = finished(edit_client, edit_client.post("/api/generate", json=body))
    plan = edit_client.get(f"/api/jobs/{piece['job_id']}/features").json()["plan"]
    assert [(s["label"], s["first_bar"], s["bars"]) for s in plan] == [
        ("A", 1, 2), ("A'", 3, 2), ("B", 5, 2), ("A'", 7, 2)]
    sections = (("A", 0, 2), ("A'", 2, 2), ("B", 4, 2), ("A'", 6, 2))
    fill = finished(edit_client, edit_client.post(
        "/api/infill", json={"job_id": piece["job_id"], "bars": "3-4", "seed": 2}))
    filled = edit_client.get(f"/api/jobs/{fill['job_id']}/features").json()
    assert filled["plan"] == plan and filled["edit"]["kind"] == "infill"  # as it was
    more = finished(edit_client, edit_client.post(
        "/api/continue", json={"job_id": fill["job_id"], "bars": 2, "seed": 3}))
    longer = edit_client.get(f"/api/jobs/{more['job_id']}/features").json()
    assert longer["plan"] == plan and len(longer["bar_lines"]) == 11  # bars 9-10: in no section
    assert drawn == [sections] * 3
    up = finished(edit_client, edit_client.post(  # the same notes as a file: no plan to keep
        "/api/continue", json={"midi": midi_b64(Score.from_midi(
            edit_client.get(f"/api/jobs/{piece['job_id']}/midi").content)), "bars": 1}))
    assert edit_client.get(f"/api/jobs/{up['job_id']}/features").json()["plan"] == []
    assert drawn[-1] == ()


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/infill", {"bars": "a-b"}, 400, "bars 'a-b' is invalid: write FIRST-LAST"),
        ("/api/infill", {"bars": "0-2"}, 400, "bars count from 1"),
        ("/api/infill", {"bars": "3-9"}, 400, "bars 3-9 are outside the piece: it has bars 1-4"),
        ("/api/infill", {"bars": 1, "density": 40}, 400, "density 40 is out of range"),
        ("/api/infill", {"bars": 1, "polyphony": "3-1"}, 400, "polyphony 3-1 is invalid"),
        ("/api/infill", {"bars": 1, "polyphony": "lots"}, 400, "polyphony 'lots' is invalid"),
        ("/api/infill", {"bars": 1, "durations": "crotchet"}, 400, "duration class 'crotchet'"),
        ("/api/infill", {"bars": 1, "tracks": "kazoo-phone"}, 400, "instrument 'kazoo-phone'"),
        ("/api/infill", {"bars": 1, "seed": -1}, 400, "seed -1 is out of range"),
        ("/api/infill", {"bars": 1, "temperature": 0}, 400, "temperature 0"),
        ("/api/continue", {"bars": 2, "drum_temperature": 0}, 400, "drum_temperature 0"),
        ("/api/continue", {"bars": 0}, 400, "bars 0 is out of range: allowed 1..64"),
        ("/api/continue", {"bars": 2, "prompt": "y" * 1001}, 400, "1001 characters is too long"),
    ],
)
def test_bad_edits_are_4xx_one_line(edit_client: TestClient, path: str, body: dict, status: int,
                                    needle: str) -> None:
    res = edit_client.post(path, json={"midi": midi_b64(four_bars()), **body})
    assert res.status_code == status, res.text
    detail = res.json()["detail"]
    assert needle in detail and "\n" not in detail


def test_edit_sources_are_checked(edit_client: TestClient) -> None:
    def detail(path: str, body: dict, status: int) -> str:
        res = edit_client.post(path, json=body)
        assert res.status_code == status, res.text
        return str(res.json()["detail"])

    assert "given 0 times" in detail("/api/infill", {"bars": "1"}, 400)
    both = {"bars": "1", "midi": midi_b64(four_bars()), "job_id": "abc"}
    assert "given 2 times" in detail("/api/infill", both, 400)
    assert "job '0123abcd' is unknown" in detail("/api/continue", {"job_id": "0123abcd"}, 404)
    assert "not valid base64" in detail("/api/upload", {"midi": "@@@"}, 400)
    assert "no MThd header" in detail("/api/upload", {"midi": "aGVsbG8="}, 400)
    assert edit_client.post("/api/infill", json={"midi": "", "colour": "red"}).status_code == 422
    assert edit_client.post("/api/infill", content=b"{not json",
                            headers={"content-type": "application/json"}).status_code == 422


# --- start from a melody: phrases of the shipped index, or an uploaded MIDI ------------------
# a D major tune on a flute, four bars, under a high piano line that the default would pick
TUNE = [(i * Q, Q, p, 80) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74,
                                                  74, 73, 71, 69, 67, 66, 64, 62])]
HIGH = [(i * 2 * Q, 2 * Q, 84, 60) for i in range(8)]


def tune_b64() -> str:
    from conftest import make_score

    return midi_b64(make_score([(0, False, HIGH), (73, False, TUNE), (0, True, TUNE)]))


@pytest.fixture(scope="module")
def found(edit_client: TestClient) -> list[dict[str, Any]]:
    res = edit_client.get("/api/retrieve", params={"prompt": "a cheerful pop melody", "k": 3,
                                                   "with_notes": True})
    assert res.status_code == 200, res.text
    return list(res.json()["hits"])


def test_retrieve_gives_ids_and_each_melody_as_files(edit_client: TestClient, found: list) -> None:
    assert len(found) == 3 and len({h["id"] for h in found}) == 3
    assert all(h["corpus"] == "pop909" and h["urls"] for h in found) and "notes" not in found[0]
    assert found[0]["score"] >= found[-1]["score"]
    urls = found[0]["urls"]
    midi = edit_client.get(urls["midi"])
    assert midi.headers["content-type"] == "audio/midi" and "attachment" in midi.headers["content-disposition"]
    first, last = (int(b) for b in found[0]["label"].rsplit(" ", 1)[1].split("-"))
    phrase = Score.from_midi(midi.content)
    assert phrase.note_num() > 0 and phrase.tracks[0].program == found[0]["program"]
    assert phrase.end() <= (last - first + 1) * 4 * phrase.ticks_per_quarter  # its bars, from 0
    assert edit_client.get(urls["wav"]).content[:4] == b"RIFF"
    assert edit_client.get(urls["pianoroll.png"]).content.startswith(PNG_MAGIC)
    jigs = edit_client.get("/api/retrieve", params={"prompt": "a jig", "k": 2, "meter": "6/8"}).json()
    assert all(h["corpus"] == "nottingham" and h["urls"] is None for h in jigs["hits"])  # notes not shipped
    gpl = jigs["hits"][0]["id"]
    for suffix in ("midi", "wav", "pianoroll.png"):
        res = edit_client.get(f"/api/retrieve/{gpl}/{suffix}")
        assert res.status_code == 404 and f"melody id {gpl} (nottingham/" in res.json()["detail"]
        res = edit_client.get(f"/api/retrieve/99999/{suffix}")
        assert res.status_code == 404 and "melody id 99999 is unknown" in res.json()["detail"]


def test_generate_around_a_found_melody_keeps_its_notes(edit_client: TestClient, found: list) -> None:
    hit = found[0]
    body = {"prompt": "a flute tune", "instruments": ["flute", "bass"], "melody": {"id": hit["id"]},
            "seed": 2}
    job = finished(edit_client, edit_client.post("/api/generate", json=body))
    assert f"melody: {hit['label']} (id {hit['id']})" in job["notes"]
    out = Score.from_midi(edit_client.get(f"/api/jobs/{job['job_id']}/midi").content)
    phrase = Score.from_midi(edit_client.get(hit["urls"]["midi"]).content)
    assert track_notes(out, 73) == track_notes(phrase, hit["program"])  # the lead: every note kept
    assert {(t.is_drum, t.program) for t in out.tracks} == {(False, 73), (False, 33)}
    report = edit_client.get(f"/api/jobs/{job['job_id']}/features").json()
    assert report["requested"]["bars"] == report["detected"]["bars"]  # the melody's length


def test_generate_around_an_uploaded_melody_track(edit_client: TestClient) -> None:
    body = {"prompt": "x", "key": "E major", "bars": 16, "melody": {"midi": tune_b64()},
            "melody_track": 2, "seed": 1}
    job = finished(edit_client, edit_client.post("/api/generate", json=body))
    out = Score.from_midi(edit_client.get(f"/api/jobs/{job['job_id']}/midi").content)
    assert track_notes(out, 73) == sorted((t, p + 2, d) for t, d, p, _ in TUNE)  # moved once, to E
    assert {"melody: the uploaded MIDI, track 2", "the melody's 4 bars are kept (asked 16)",
            "melody moved +2 semitones into E major (its key reads as D major)"} <= set(job["notes"])


@pytest.mark.parametrize(
    ("melody", "extra", "needle"),
    [
        ({"id": 99999}, {}, "melody id 99999 is unknown: this index has ids 0..6421"),
        ({}, {}, "the melody is given 0 times: send exactly one of id"),
        ({"id": 1, "midi": "TVRoZA=="}, {}, "the melody is given 2 times"),
        ({"midi": "@@@"}, {}, "melody midi is not valid base64"),
        ({"midi": "aGVsbG8="}, {}, "uploaded MIDI: not a MIDI file (no MThd header)"),
        ({"midi": "TUIDI"}, {"melody_track": 4}, "melody track 4 is not a pitched track: allowed 1, 2"),
        ({"midi": "TUIDI"}, {"melody_track": 3}, "melody track 3 is not a pitched track: allowed 1, 2"),
        ({"midi": "TUIDI"}, {"form": "AABA"}, "form 'AABA' does not go with a given melody"),
        ({"id": 1}, {"form": "AABA"}, "cut the melody to the bars you want, or ask for a retrieved melody"),
        ({"midi": "LONG"}, {}, "the melody has 70 bars: allowed up to 64 (cut it first)"),
        (None, {"melody_track": 1}, "melody_track needs a melody"),
    ],
)
def test_bad_melodies_are_400_one_line(edit_client: TestClient, melody: dict | None, extra: dict,
                                       needle: str) -> None:
    from conftest import make_score

    if melody is not None and melody.get("midi") == "TUIDI":
        melody = {"midi": tune_b64()}
    elif melody is not None and melody.get("midi") == "LONG":
        melody = {"midi": midi_b64(make_score([(0, False, [(b * 4 * Q, Q, 72, 80) for b in range(70)])]))}
    res = edit_client.post("/api/generate", json={"prompt": "x", "melody": melody, **extra})
    assert res.status_code == 400, res.text
    detail = res.json()["detail"]
    assert needle in detail and "\n" not in detail


def test_a_phrase_without_notes_is_refused_and_malformed_melodies_are_422(edit_client: TestClient) -> None:
    jig = edit_client.get("/api/retrieve", params={"prompt": "a jig", "k": 1, "meter": "6/8"}).json()["hits"][0]
    res = edit_client.post("/api/generate", json={"prompt": "x", "melody": {"id": jig["id"]}})
    assert res.status_code == 400
    assert res.json()["detail"] == (f"melody id {jig['id']} ({jig['label']}) has no notes in the index "
                                    "(license GPL-3.0: only its facts are shipped): pick a phrase whose "
                                    "notes are stored")
    for melody in ({"iden": 3}, {"id": "three"}, "retrieved"):
        assert edit_client.post("/api/generate", json={"prompt": "x", "melody": melody}).status_code == 422
