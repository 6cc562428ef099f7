"""The command line: files written, flags overriding text, one-line errors with exit 2."""

from __future__ import annotations

import importlib
import json
import struct
import subprocess
import sys
import types
import wave
from pathlib import Path

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track
from typer.testing import CliRunner

from tunesmith.cli import app

runner = CliRunner()


def run(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def error_line(result: object) -> str:
    """The whole of stderr, which must be exactly one `error: ...` line."""
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture()
def scale_midi(tmp_path: Path) -> Path:
    """Three bars of a C major scale on piano at 96 bpm in 3/4."""
    score = Score(480)
    score.tempos.append(Tempo(0, 96.0))
    score.time_signatures.append(TimeSignature(0, 3, 4))
    piano = Track(program=0)
    pitches = [60, 62, 64, 65, 67, 69, 71, 72, 67]
    piano.notes.extend([Note(i * 480, 480, p, 80) for i, p in enumerate(pitches)])
    score.tracks.append(piano)
    path = tmp_path / "scale.mid"
    score.dump_midi(str(path))
    return path


def programs(score: Score) -> set[int]:
    return {128 if t.is_drum else t.program for t in score.tracks if len(t.notes)}


def test_cli_module_starts_without_torch_or_matplotlib() -> None:
    code = "import sys, tunesmith.cli; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_names_resolve() -> None:
    import tunesmith

    assert tunesmith.__version__
    for name in tunesmith.__all__:
        assert getattr(tunesmith, name) is not None
    assert tunesmith.generate.__module__ == "tunesmith.generation.generate"


def test_generate_follows_the_text(tmp_path: Path, debug_checkpoint_dir: Path) -> None:
    out = tmp_path / "song" / "waltz.mid"  # the missing folder is created
    prompt = "a sad waltz for violin and cello in 3/4 at 70 bpm, 2 bars"
    result = run("generate", prompt, "-o", out, "--model", debug_checkpoint_dir, "--seed", "3",
                 "--wav", "--pianoroll")
    assert result.exit_code == 0, result.output
    score = Score(str(out))
    assert score.tempos[0].qpm == pytest.approx(70.0, abs=0.01)
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert programs(score) and programs(score) <= {40, 42}
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with wave.open(str(out.with_suffix(".wav"))) as w:
        assert w.getnframes() > 0
    assert str(out) in result.stdout and "2 asked" in result.stdout and "seed 3" in result.stdout


def test_flags_override_text_and_num_writes_numbered_files(
    tmp_path: Path, debug_checkpoint_dir: Path
) -> None:
    out = tmp_path / "x.mid"
    result = run(
        "generate", "a sad waltz for violin in 3/4 at 70 bpm, 4 bars", "-o", out,
        "--model", debug_checkpoint_dir, "--tempo", "132", "--time-signature", "6/8",
        "--instruments", "piano,bass,drums", "--bars", "2", "--key", "D", "--num", "2",
        "--seed", "0",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-1.mid", "x-2.mid"]
    scores = [Score(str(tmp_path / name)) for name in ("x-1.mid", "x-2.mid")]
    for score in scores:
        assert score.tempos[0].qpm == pytest.approx(132.0, abs=0.01)
        assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (6, 8)
        assert programs(score) <= {0, 33, 128}  # not the violin of the text
    assert any(programs(s) for s in scores)
    assert result.stdout.count("key asked D major") == 2
    assert result.stdout.count("(2 asked)") == 2
    # a lead named by flag is told to a model with role tokens: the piano over bass and drums,
    # which would comp
    led = run("generate", "piano, bass and drums", "-o", tmp_path / "led.mid", "--model", debug_checkpoint_dir,
              "--bars", "1", "--lead", "piano", "--seed", "0")
    assert led.exit_code == 0, led.output
    told = "note: roles told the model: Piano lead (5 notes a bar), Electric Bass bass (6 notes a bar)"
    assert told in led.stderr


def test_empty_prompt_says_it_is_unconditioned(
    tmp_path: Path, debug_checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one bar instead of the default eight keeps the random debug model quick
    monkeypatch.setattr(importlib.import_module("tunesmith.generation.generate"), "DEFAULT_BARS", 1)
    out = tmp_path / "free.mid"
    result = run("generate", "-o", out, "--model", debug_checkpoint_dir, "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "note: empty prompt: generating unconditioned music" in result.stderr
    assert Score(str(out)).ticks_per_quarter == 480  # a valid MIDI file


@pytest.mark.parametrize(
    ("prompt", "flags", "message"),
    [
        ("piano", ["--tempo", "0"], "tempo 0"),
        ("piano", ["--bars", "400"], "400 bars"),
        ("a piano piece, 400 bars", [], "400 bars"),
        ("piano", ["--instruments", ",".join(str(p) for p in range(20))], "20 instruments"),
        ("piano", ["--instruments", "kazoo phone"], "kazoo phone"),
        ("piano", ["--key", "H major"], "H major"),
        ("piano", ["--time-signature", "5/8"], "5/8"),
        ("piano", ["--bars", "4", "--seconds", "10"], "give one length"),
        ("piano", ["--temperature", "0"], "temperature 0"),
        ("piano", ["--lead", "trumpet"], "lead Trumpet is not among the instruments (Piano)"),
        ("piano", ["--lead", "drums"], "lead 'drums': name one pitched instrument"),
    ],
)
def test_impossible_requests_exit_2_and_write_nothing(
    tmp_path: Path, debug_checkpoint_dir: Path, prompt: str, flags: list[str], message: str
) -> None:
    result = run("generate", prompt, "-o", tmp_path / "out.mid",
                 "--model", debug_checkpoint_dir, *flags)
    assert result.exit_code == 2
    assert message in error_line(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["render", "inspect", "pianoroll"])
@pytest.mark.parametrize("problem", ["missing", "corrupt", "not midi"])
def test_bad_midi_input_exits_2_with_one_line(tmp_path: Path, command: str, problem: str) -> None:
    src = tmp_path / "in.mid"
    if problem == "corrupt":
        src.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff")
    elif problem == "not midi":
        src.write_bytes(b"hello, I am a text file")
    before = sorted(tmp_path.iterdir())
    result = run(command, src) if command == "inspect" else run(command, src, "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert "in.mid" in error_line(result)
    assert sorted(tmp_path.iterdir()) == before
    assert "Traceback" not in result.output


def test_inspect_prints_features_as_json(scale_midi: Path) -> None:
    result = run("inspect", scale_midi)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["key"] == "C major"
    assert info["tempo"] == pytest.approx(96.0)
    assert info["time_signature"] == "3/4"
    assert info["instruments"] == ["Piano"]
    assert info["bars"] == 3


def test_render_writes_a_wav_of_the_score_length(tmp_path: Path, scale_midi: Path) -> None:
    out = tmp_path / "scale.wav"
    result = run("render", scale_midi, "-o", out, "--sample-rate", "22050")
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 22050)
        seconds = w.getnframes() / w.getframerate()
    assert 9 * 60 / 96 <= seconds <= 9 * 60 / 96 + 2.5  # nine beats at 96 bpm plus release


def test_render_refuses_to_overwrite_its_input(scale_midi: Path) -> None:
    data = scale_midi.read_bytes()
    result = run("render", scale_midi, "-o", scale_midi)
    assert result.exit_code == 2
    assert "input" in error_line(result)
    assert scale_midi.read_bytes() == data


def test_pianoroll_writes_a_png_of_the_asked_width(tmp_path: Path, scale_midi: Path) -> None:
    out = tmp_path / "roll.png"
    result = run("pianoroll", scale_midi, "-o", out, "--width", "800")
    assert result.exit_code == 0, result.output
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", png[16:24])  # IHDR
    assert width == 800


def test_batch_reports_and_counts_bad_lines(tmp_path: Path, debug_checkpoint_dir: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    rows = [
        json.dumps({"prompt": "a calm piano piece in G major", "bars": 1, "seed": 2}),
        json.dumps({"caption": "jazz for piano and bass", "tempo": 0}),
        "{not json",
        "",
        json.dumps({"prompt": "rock", "instruments": ["electric guitar", "drums"], "bars": 1,
                    "time_signature": "6/8", "tempo": 150}),
    ]
    prompts.write_text("\n".join(rows) + "\n")
    out = tmp_path / "batch"
    result = run("generate", "--prompts", prompts, "--out-dir", out,
                 "--model", debug_checkpoint_dir, "--seed", "0")
    assert result.exit_code == 2
    assert "2 of 4 prompts written" in result.stdout
    assert "line 2: tempo 0" in result.stderr and "line 3: not valid JSON" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["0001.mid", "0005.mid", "index.jsonl"]
    rock = Score(str(out / "0005.mid"))
    assert rock.tempos[0].qpm == pytest.approx(150.0, abs=0.01)
    assert programs(rock) <= {27, 128}  # the line's instruments, not the text's
    index = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()]
    assert [("error" in r) for r in index] == [False, True, True, False]


def test_demo_writes_midi_wav_and_png_and_describes_them(
    tmp_path: Path, debug_checkpoint_dir: Path
) -> None:
    out = tmp_path / "demo"
    result = run("demo", "--out", out, "--model", debug_checkpoint_dir,
                 "--prompt", "a calm piano piece in G major, 1 bar")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["demo.mid", "demo.png", "demo.wav"]
    assert "result:  The" in result.stdout  # the caption of what came out
    assert "tunesmith serve" in result.stdout and "http://127.0.0.1:8000" in result.stdout


def test_data_build_writes_a_dataset(tmp_path: Path, scale_midi: Path) -> None:
    out = tmp_path / "dataset"
    result = run("data", "build", "--corpus", f"folder:{scale_midi.parent}", "--out", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (out / "pieces.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["features"]["time_signature"] == "3/4"
    bad = run("data", "build", "--corpus", "nosuch:x", "--out", tmp_path / "d2")
    assert bad.exit_code == 2 and "nosuch" in error_line(bad)


def test_batch_mode_needs_an_out_dir(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "piano"}\n')
    result = run("generate", "--prompts", prompts)
    assert result.exit_code == 2
    assert "--out-dir" in error_line(result)


def test_usage_errors_exit_2(scale_midi: Path) -> None:
    assert run("render", scale_midi, "--no-such-flag").exit_code == 2
    assert run("generate", "piano", "--tempo", "fast").exit_code == 2
    assert run("serve", "--port", "0").exit_code == 2


def test_serve_passes_its_flags_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake = types.ModuleType("tunesmith.server")
    def serve(host, port, model, on_ready, data_dir):  # type: ignore[no-untyped-def]
        calls.append((host, port, model, data_dir))
        on_ready()  # the server says "serving on" only once the model has loaded

    fake.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tunesmith.server", fake)
    result = run("serve", "--host", "0.0.0.0", "--port", "8123", "--model", "m", "--data-dir", "d")
    assert result.exit_code == 0, result.output
    assert calls == [("0.0.0.0", 8123, "m", Path("d"))]
    assert "serving on http://0.0.0.0:8123" in result.stderr


def test_train_flags_override_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesmith.training

    seen = []
    monkeypatch.setattr(tunesmith.training, "train",
                        lambda cfg: seen.append(cfg) or {"eval_loss": 1.5, "checkpoint": "c"})
    config = tmp_path / "tiny.yaml"
    config.write_text("preset: debug\nmax_steps: 10\nbatch_size: 4\nlr: 0.002\n")
    result = run("train", "--config", config, "--max-steps", "3", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    (cfg,) = seen
    assert (cfg.max_steps, cfg.batch_size, cfg.lr, cfg.preset) == (3, 4, 0.002, "debug")
    assert cfg.out == str(tmp_path / "run")
    assert "validation loss 1.500" in result.stdout
    bad = run("train", "--config", config, "--lr", "5")
    assert bad.exit_code == 2 and "lr 5" in error_line(bad)
    (tmp_path / "stage1").mkdir()
    assert run("train", "--config", config, "--init", tmp_path / "stage1").exit_code == 0
    assert seen[-1].init == str(tmp_path / "stage1")
    missing = run("train", "--config", config, "--init", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "nowhere is not a folder" in error_line(missing)
    assert run("train", "--config", config, "--keep-checkpoints", "12").exit_code == 0
    assert seen[-1].keep_checkpoints == 12
    none_kept = run("train", "--config", config, "--keep-checkpoints", "0")
    assert none_kept.exit_code == 2 and "keep_checkpoints 0 must be >= 1" in error_line(none_kept)


def test_infill_and_continue_commands(tmp_path: Path, debug_checkpoint_dir: Path) -> None:
    from symusic import Note, Tempo, TimeSignature, Track

    src = Score(480)
    src.tempos.append(Tempo(0, 100.0))
    src.time_signatures.append(TimeSignature(0, 4, 4))
    bass, kit = Track("bass", 33), Track("kit", 0, True)
    for i in range(16):
        bass.notes.append(Note(i * 480, 400, 40 + i % 3, 90))
        kit.notes.append(Note(i * 480, 60, 42, 80))
    src.tracks.extend([bass, kit])
    path = tmp_path / "sketch.mid"
    src.dump_midi(str(path))
    result = run("infill", path, "--bars", "2-3", "--tracks", "bass", "--density", "4", "--model",
                 debug_checkpoint_dir, "--pianoroll")
    assert result.exit_code == 0, result.output
    filled = Score(str(tmp_path / "sketch-infill.mid"))
    kit_notes = [(n.time, n.pitch) for t in filled.tracks if t.is_drum for n in t.notes]
    assert kit_notes == [(i * 480, 42) for i in range(16)]  # the untouched track is as it was
    assert (tmp_path / "sketch-infill.png").is_file()
    result = run("continue", path, "--bars", "2", "--model", debug_checkpoint_dir)
    assert result.exit_code == 0, result.output
    assert Score(str(tmp_path / "sketch-continued.mid")).end() > src.end()
    bad = run("infill", path, "--bars", "3-9", "--model", debug_checkpoint_dir)
    assert bad.exit_code == 2 and "outside the piece: it has bars 1-4" in bad.output


def test_trackwise_order_writes_one_part_after_another(tmp_path: Path, debug_checkpoint_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesmith.infilling import form

    turns: list[int] = []
    fill = form.fill_track
    monkeypatch.setattr(form, "fill_track", lambda ckpt, score, program, *a: turns.append(program) or
                        fill(ckpt, score, program, *a))
    out = tmp_path / "trio.mid"
    prompt = "a tune for flute, guitar and bass with drums, 2 bars"
    result = run("generate", prompt, "-o", out, "--model", debug_checkpoint_dir, "--seed", "4",
                 "--order", "trackwise")
    assert result.exit_code == 0, result.output
    assert turns == [73, 24, 33]  # drums opened the piece alone; then the rest as asked, the bass last
    assert programs(Score(str(out))) >= {73, 24, 33}
    bad = run("generate", prompt, "-o", out, "--model", debug_checkpoint_dir, "--order", "sideways")
    assert bad.exit_code == 2 and "order 'sideways' is not one of interleaved, trackwise" in bad.output
