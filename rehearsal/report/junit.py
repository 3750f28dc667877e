"""JUnit XML for CI: one test case per analysis metric, one for the verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rehearsal.failures import ComponentError
from rehearsal.outcome import Outcome
from rehearsal.report.verdict import verdict_of

SUITE = "canary-rehearsal"


def junit_xml(outcome: Outcome, *, expected: str | None) -> str:
    canary = outcome.canary
    suite = ET.Element("testsuite", name=SUITE, timestamp="")
    cases: list[ET.Element] = []
    for metric in canary.metrics_in_flagger_order():
        results = [(t.tick, m) for t in outcome.ticks for m in t.metrics if m.name == metric.name]
        case = ET.Element("testcase", classname=f"{SUITE}.metrics", name=metric.name)
        failed = [(n, m) for n, m in results if not m.passed]
        if not results:
            ET.SubElement(case, "skipped", message="never evaluated")
        elif failed:
            ET.SubElement(
                case,
                "failure",
                message=f"{len(failed)} of {len(results)} checks failed",
                type="CheckFailed",
            ).text = "\n".join(f"tick {n}: {m.verdict}" for n, m in failed)
        cases.append(case)
    v = verdict_of(outcome)
    verdict = ET.Element("testcase", classname=f"{SUITE}.verdict", name=f"{canary.name} verdict")
    want = expected or "promoted"
    if v.word != want:
        ET.SubElement(
            verdict, "failure", message=f"{v.word}, expected {want}", type="Verdict"
        ).text = v.decided_by
    cases.append(verdict)
    suite.extend(cases)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    suite.set("time", f"{outcome.real_s + outcome.startup_s:.3f}")
    del suite.attrib["timestamp"]
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def write_junit(path: Path, outcome: Outcome, *, expected: str | None) -> None:
    try:
        path.write_text(junit_xml(outcome, expected=expected))
    except OSError as exc:
        raise ComponentError(f"--junit: cannot write {path}: {exc.strerror or exc}") from None
