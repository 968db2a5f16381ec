"""HL7v2 messages (parsed by the ``hl7`` library) to pathway steps, and their ACKs.

Accepted: ORU^R01 results (LOINC codes of the intake table) and ADT^A03/A08 carrying a death
(PID-29 date of death, PID-30 death indicator). The patient is named by the NHS number in
PID-3 whose assigning authority is NHS.
"""

from datetime import date, datetime

import hl7
from pydantic import ValidationError

from clinical.nhs_number import normalise_nhs_number
from intake.instruction import Instruction, Malformed
from intake.loinc import IntakeConfig, convert, results_payload
from models.steps import ReportedDeath

ACCEPTED = ("ORU^R01", "ADT^A03", "ADT^A08")
# Result statuses (OBX-11) that are a result: final, corrected, or not given.
_RESULT_STATUSES = {"", "F", "C"}


def normalise_segments(text: str) -> str:
    """Segments end in CR per the standard; some senders use LF or CRLF."""
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def decode(block: bytes) -> str:
    """The message text: UTF-8, else Latin-1 (HL7's common 8-bit default)."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


def parse(text: str) -> hl7.Message:
    """Parse, or Malformed saying why."""
    try:
        message = hl7.parse(normalise_segments(text))
    except Exception as exc:  # the library raises several kinds for a broken message
        raise Malformed(f"MSH: not an HL7v2 message ({exc})") from None
    if not str(message.segment("MSH")(0)).startswith("MSH"):
        raise Malformed("MSH: the message must start with an MSH segment")
    return message


def _field(message: hl7.Message, accessor: str) -> str:
    """A field by accessor ("PID.F3.R2.C4"); empty when the message does not have it."""
    try:
        return str(message[accessor]).strip()
    except (IndexError, KeyError):
        return ""


def control_id(message: hl7.Message) -> str:
    """MSH-10, the sender's message control id."""
    return _field(message, "MSH.F10")


def message_type(message: hl7.Message) -> str:
    """MSH-9 as "ORU^R01"."""
    return f"{_field(message, 'MSH.F9.R1.C1')}^{_field(message, 'MSH.F9.R1.C2')}"


def _day(value: str, element: str) -> date:
    try:
        return datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        raise Malformed(f"{element}: {value!r} is not a date (YYYYMMDD...)") from None


def nhs_number(message: hl7.Message) -> str:
    """The NHS number of PID-3 (assigning authority NHS), normalised; Malformed otherwise."""
    try:
        repetitions = len(message.segment("PID")(3))
    except (KeyError, IndexError):
        raise Malformed("PID-3: the message has no PID segment with identifiers") from None
    for r in range(1, max(repetitions, 1) + 1):
        authority = _field(message, f"PID.F3.R{r}.C4").split("&")[0]
        if authority.upper() == "NHS":
            try:
                return normalise_nhs_number(_field(message, f"PID.F3.R{r}.C1"))
            except ValueError as exc:
                raise Malformed(f"PID-3: {exc}") from None
    raise Malformed("PID-3: no identifier with assigning authority NHS")


def _results(message: hl7.Message, config: IntakeConfig) -> Instruction:
    values: dict[str, float] = {}
    collected: date | None = None
    for i in range(1, len(message.segments("OBX")) + 1):
        code = _field(message, f"OBX{i}.F3.R1.C1")
        mapping = config.loinc.get(code)
        if mapping is None or _field(message, f"OBX{i}.F11") not in _RESULT_STATUSES:
            continue
        raw = _field(message, f"OBX{i}.F5")
        try:
            value = float(raw)
        except ValueError:
            raise Malformed(
                f"OBX-5: {mapping.name} ({code}) value {raw!r} is not a number"
            ) from None
        unit = _field(message, f"OBX{i}.F6.R1.C1")
        converted = convert(mapping, value, unit)
        if converted is None:
            known = ", ".join(u or "(none)" for u in mapping.units)
            raise Malformed(f"OBX-6: unit {unit!r} of {mapping.name} ({code}); accepted: {known}")
        values[mapping.field] = converted
        when = _field(message, f"OBX{i}.F14") or _field(message, "OBR.F7")
        if when:
            collected = _day(when, "OBX-14")
    nhs = nhs_number(message)
    if not values:
        return Instruction("ORU^R01", nhs, None, None, "no result of a mapped test")
    if collected is None:
        collected = _day(_field(message, "MSH.F7"), "MSH-7")
    try:
        payload = results_payload("hl7v2", collected, values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise Malformed(f"OBX-5: {where}: {err['msg']}") from None
    return Instruction("ORU^R01", nhs, "external-results", payload)


def _death(message: hl7.Message, kind: str) -> Instruction:
    nhs = nhs_number(message)
    died = _field(message, "PID.F29")
    indicator = _field(message, "PID.F30").upper()
    if not died and indicator != "Y":
        return Instruction(kind, nhs, None, None, "no death reported (PID-29/30 empty)")
    died_on = _day(died, "PID-29") if died else None
    return Instruction(kind, nhs, "report-death", ReportedDeath(source="hl7v2", died_on=died_on))


def instruction(message: hl7.Message, config: IntakeConfig) -> Instruction:
    """What the message asks of the pathway; Malformed naming the element otherwise."""
    kind = message_type(message)
    if kind == "ORU^R01":
        return _results(message, config)
    if kind in ("ADT^A03", "ADT^A08"):
        return _death(message, kind)
    raise Malformed(f"MSH-9: message type {kind!r} is not taken; accepted: {', '.join(ACCEPTED)}")


_BLANK_ACK = "MSH|^~\\&|SIRT||||||ACK|||2.5.1\rMSA|AR|"


def ack(source: hl7.Message | None, code: str, text: str, control: str, at: datetime) -> bytes:
    """The ACK for a message: MSA-1 code, MSA-2 its control id, MSA-3 the reason.

    Built from what the message and its stored answer hold (MSH-7 is when it was received),
    so a duplicate is answered with the very same bytes.
    """
    if source is not None:
        reply = source.create_ack(code, message_id=f"ACK{control}"[:199], application="SIRT")
    else:
        reply = hl7.parse(_BLANK_ACK)
        reply.segment("MSH").assign_field(f"ACK{control}"[:199], 10)
    reply.segment("MSH").assign_field(at.strftime("%Y%m%d%H%M%S"), 7)
    msa = reply.segment("MSA")
    msa.assign_field(code, 1)
    msa.assign_field(control, 2)
    # The reason, escaped: a '|' or '^' in it would otherwise split the field.
    msa.assign_field(source.escape(text) if source is not None else reply.escape(text), 3)
    return str(reply).encode("utf-8")
