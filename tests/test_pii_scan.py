"""The personal-data scan itself finds what it must (a positive control) and no more."""

from flask import Flask, Response

from tests import pii


def test_scan_finds_identity_and_mobile_numbers() -> None:
    assert pii.scan_text('{"x": "11010519491231002X"}') == ["11010519491231002X"]
    assert pii.scan_text("call 13812345678 now") == ["13812345678"]
    # Region codes, floats and timestamps are not personal data.
    assert pii.scan_text('{"code": "340100000000", "v": 0.30000000000000004, '
                         '"t": 1764140000000}') == []


def test_every_flask_response_passes_through_the_scan() -> None:
    app = Flask("probe")

    @app.route("/leak")
    def leak() -> Response:
        return Response('{"id": "110105194912310029"}', mimetype="application/json")

    before = len(pii.FINDINGS)
    assert app.test_client().get("/leak").status_code == 200
    assert len(pii.FINDINGS) == before + 1
    pii.FINDINGS.pop()  # the planted leak is this test's own, not the product's


def test_log_lines_are_scanned_for_tokens_and_personal_data() -> None:
    """Positive control of the log scan: a line that would leak is a finding."""
    import logging

    pii.ISSUED.add("plain-secret-token-value")
    before = len(pii.FINDINGS)
    logging.getLogger("probe").warning("opened with plain-secret-token-value")
    assert len(pii.FINDINGS) == before + 1
    pii.FINDINGS.pop()
    pii.ISSUED.discard("plain-secret-token-value")
    # What the production format scrubs is not a finding: it is never written.
    logging.getLogger("probe").warning("GET /wall/1?token=eyJabc.def id 11010519491231002X")
    assert len(pii.FINDINGS) == before


def test_log_scan_ignores_digit_runs_inside_hex_ids() -> None:
    assert pii.scan_log_text("INFO 0f13313767464ae49b373c4262d9f599 gunicorn.access") == []
    assert pii.scan_log_text("tel 13313767464 id 11010519491231002X.") == [
        "11010519491231002X", "13313767464"]
