"""A fake SAP RFC backend with pyrfc's `Connection` surface (`call(name, **params)`, `close()`).

It answers RFC_PING, RFC_READ_TABLE (and BBP_RFC_READ_TABLE), BAPI_MATERIAL_SAVEDATA,
BAPI_TRANSACTION_COMMIT and BAPI_TRANSACTION_ROLLBACK the way ECC does where segbridge depends on
it: rows wider than 512 bytes raise DATA_BUFFER_EXCEEDED, OPTIONS lines over 72 characters raise
OPTION_NOT_VALID, values are in internal format (ALPHA-padded keys, YYYYMMDD dates), ROWSKIPS /
ROWCOUNT page without any promised order, the BAPI answers in RETURN/RETURNMESSAGES and its changes
stay in the open LUW until BAPI_TRANSACTION_COMMIT (ROLLBACK discards them).

Example:
    >>> backend = FakeRfcBackend.seeded()
    >>> conn = backend.connect(ashost="sandbox", sysnr="00", client="100", user="U", passwd="x")
    >>> conn.call("RFC_READ_TABLE", QUERY_TABLE="MARA", ROWCOUNT=1)["DATA"][0]["WA"][:18]   # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

ROW_LIMIT = 512


class RFCError(Exception):
    """Base of the fake's errors (named like pyrfc's, so connectors classify them the same way)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.message, self.key = message, key


class ABAPApplicationError(RFCError):
    """An exception raised by the function module (key: TABLE_NOT_AVAILABLE, DATA_BUFFER_EXCEEDED...)."""


class CommunicationError(RFCError):
    pass


class LogonError(RFCError):
    pass


# name, output length, type (C char, N numeric text, D date, P packed)
MARA = [("MATNR", 18, "C"), ("ERSDA", 8, "D"), ("LAEDA", 8, "D"), ("LVORM", 1, "C"), ("MTART", 4, "C"),
        ("MATKL", 9, "C"), ("MEINS", 3, "C"), ("BRGEW", 17, "P"), ("NTGEW", 17, "P"), ("GEWEI", 3, "C")]
MARC = [("MATNR", 18, "C"), ("WERKS", 4, "C"), ("PSTAT", 15, "C"), ("LVORM", 1, "C"), ("MMSTA", 2, "C"),
        ("MAABC", 1, "C"), ("EKGRP", 3, "C"), ("DISPR", 4, "C"), ("DISMM", 2, "C"), ("DISPO", 3, "C"),
        ("PLIFZ", 3, "N"), ("WEBAZ", 3, "N"), ("DISGR", 4, "C"), ("DISLS", 2, "C"), ("BESKZ", 1, "C"),
        ("SOBSL", 2, "C"), ("MINBE", 17, "P"), ("EISBE", 17, "P"), ("EISLO", 17, "P"), ("BSTMI", 17, "P"),
        ("BSTMA", 17, "P"), ("BSTFE", 17, "P"), ("BSTRF", 17, "P"), ("MABST", 17, "P"), ("LOSFX", 15, "P"),
        ("AUSSS", 7, "P"), ("KAUSF", 7, "P"), ("STRGR", 2, "C"), ("MTVFP", 2, "C"), ("RDPRF", 4, "C"),
        ("FXHOR", 3, "N"), ("SHZET", 2, "N"), ("RWPRO", 3, "C"), ("MRPPP", 3, "C"), ("LGPRO", 4, "C"),
        ("LGFSB", 4, "C"), ("VRMOD", 1, "C"), ("VINT1", 3, "N"), ("VINT2", 3, "N"), ("PRCTR", 10, "C"),
        ("STAWN", 17, "C"), ("HERKL", 3, "C"), ("XCHPF", 1, "C"), ("KZKRI", 1, "C"), ("FEVOR", 3, "C"),
        ("SFCPF", 6, "C"), ("UEETO", 5, "P"), ("UNETO", 5, "P"), ("WZEIT", 3, "N"), ("KZAUS", 1, "C"),
        ("AUSDT", 8, "D"), ("NFMAT", 18, "C"), ("MAXLZ", 5, "N"), ("LZEIH", 3, "C"), ("KZDIE", 1, "C"),
        ("DZEIT", 3, "N"), ("SAUFT", 1, "C"), ("SFEPR", 4, "C"), ("MMSTD", 8, "D"), ("ZZNOTE", 120, "C")]
KNA1 = [("KUNNR", 10, "C"), ("LAND1", 3, "C"), ("NAME1", 35, "C"), ("ORT01", 35, "C"), ("REGIO", 3, "C"),
        ("BRSCH", 4, "C"), ("KTOKD", 4, "C"), ("KUKLA", 2, "C"), ("ERDAT", 8, "D"), ("LOEVM", 1, "C")]
KNVV = [("KUNNR", 10, "C"), ("VKORG", 4, "C"), ("VTWEG", 2, "C"), ("SPART", 2, "C"), ("KDGRP", 2, "C"),
        ("WAERS", 5, "C"), ("KLABC", 2, "C"), ("LPRIO", 2, "N"), ("VSBED", 2, "C"), ("KVGR1", 3, "C"),
        ("KVGR2", 3, "C"), ("VWERK", 4, "C")]
# Sales orders, deliveries, purchase orders (headers, items, schedule lines, PO history).
VBAK = [("VBELN", 10, "C"), ("ERDAT", 8, "D"), ("AEDAT", 8, "D"), ("AUDAT", 8, "D"), ("AUART", 4, "C"),
        ("VKORG", 4, "C"), ("VTWEG", 2, "C"), ("SPART", 2, "C"), ("KUNNR", 10, "C"), ("VDATU", 8, "D"),
        ("NETWR", 18, "P"), ("WAERK", 5, "C")]
VBAP = [("VBELN", 10, "C"), ("POSNR", 6, "N"), ("MATNR", 18, "C"), ("WERKS", 4, "C"), ("PSTYV", 4, "C"),
        ("KWMENG", 19, "P"), ("VRKME", 3, "C"), ("MEINS", 3, "C"), ("NETWR", 18, "P"), ("WAERK", 5, "C"),
        ("ABGRU", 2, "C"), ("ERDAT", 8, "D"), ("AEDAT", 8, "D")]
LIKP = [("VBELN", 10, "C"), ("ERDAT", 8, "D"), ("AEDAT", 8, "D"), ("VSTEL", 4, "C"), ("KUNNR", 10, "C"),
        ("VSBED", 2, "C"), ("LFDAT", 8, "D"), ("WADAT_IST", 8, "D"), ("BTGEW", 17, "P"), ("GEWEI", 3, "C")]
LIPS = [("VBELN", 10, "C"), ("POSNR", 6, "N"), ("MATNR", 18, "C"), ("WERKS", 4, "C"), ("LFIMG", 17, "P"),
        ("VRKME", 3, "C"), ("VGBEL", 10, "C"), ("VGPOS", 6, "N"), ("ERDAT", 8, "D"), ("AEDAT", 8, "D")]
EKKO = [("EBELN", 10, "C"), ("BUKRS", 4, "C"), ("BSTYP", 1, "C"), ("BSART", 4, "C"), ("AEDAT", 8, "D"),
        ("LIFNR", 10, "C"), ("EKORG", 4, "C"), ("WAERS", 5, "C"), ("BEDAT", 8, "D")]
EKPO = [("EBELN", 10, "C"), ("EBELP", 5, "N"), ("MATNR", 18, "C"), ("WERKS", 4, "C"), ("MENGE", 17, "P"),
        ("MEINS", 3, "C"), ("AEDAT", 8, "D")]
EKET = [("EBELN", 10, "C"), ("EBELP", 5, "N"), ("ETENR", 4, "N"), ("EINDT", 8, "D"), ("MENGE", 17, "P"),
        ("WEMNG", 17, "P")]
EKBE = [("EBELN", 10, "C"), ("EBELP", 5, "N"), ("ZEKKN", 2, "N"), ("VGABE", 1, "C"), ("GJAHR", 4, "N"),
        ("BELNR", 10, "C"), ("BUZEI", 4, "N"), ("BEWTP", 1, "C"), ("BWART", 3, "C"), ("BUDAT", 8, "D"),
        ("MENGE", 17, "P"), ("SHKZG", 1, "C"), ("MATNR", 18, "C"), ("WERKS", 4, "C"), ("CPUDT", 8, "D")]
LAYOUTS = {"MARA": (MARA, ["MATNR"]), "MARC": (MARC, ["MATNR", "WERKS"]), "KNA1": (KNA1, ["KUNNR"]),
           "KNVV": (KNVV, ["KUNNR", "VKORG", "VTWEG", "SPART"]), "VBAK": (VBAK, ["VBELN"]),
           "VBAP": (VBAP, ["VBELN", "POSNR"]), "LIKP": (LIKP, ["VBELN"]), "LIPS": (LIPS, ["VBELN", "POSNR"]),
           "EKKO": (EKKO, ["EBELN"]), "EKPO": (EKPO, ["EBELN", "EBELP"]), "EKET": (EKET, ["EBELN", "EBELP", "ETENR"]),
           "EKBE": (EKBE, ["EBELN", "EBELP", "ZEKKN", "VGABE", "GJAHR", "BELNR", "BUZEI"])}
BAPI_TO_MARC = {"ABC_ID": "MAABC", "MRP_TYPE": "DISMM", "MRP_CTRLER": "DISPO", "MRP_GROUP": "DISGR",
                "SAFETY_STK": "EISBE", "MIN_SAFETY_STK": "EISLO", "REORDER_PT": "MINBE", "LOTSIZEKEY": "DISLS",
                "ROUND_VAL": "BSTRF", "MINLOTSIZE": "BSTMI", "MAXLOTSIZE": "BSTMA", "FIXED_LOT": "BSTFE",
                "MAX_STOCK": "MABST", "PLND_DELRY": "PLIFZ", "GR_PR_TIME": "WEBAZ", "PROC_TYPE": "BESKZ"}
CHECKS = {"DISMM": ("T438A", {"PD", "VB", "VM", "V1", "V2", "ND", "X0"}), "DISLS": ("T439A", {"EX", "FX", "HB", "WB"}),
          "MAABC": ("TMABC", {"", "A", "B", "C"})}


def _where(text: str):
    """A predicate for the ABAP WHERE subset RFC_READ_TABLE callers use (=, <>, <, <=, >, >=, IN, AND, OR, ())."""
    tokens = re.findall(r"'(?:[^']|'')*'|<>|<=|>=|[=<>(),]|[A-Za-z0-9_/]+", text)
    pos = 0

    def take():
        nonlocal pos
        if pos >= len(tokens):
            raise ABAPApplicationError("WHERE clause ends early", "OPTION_NOT_VALID")
        pos += 1
        return tokens[pos - 1]

    def lit(token):
        if not token.startswith("'"):
            raise ABAPApplicationError(f"literal expected, found {token}", "OPTION_NOT_VALID")
        return token[1:-1].replace("''", "'")

    def primary():
        token = take()
        if token == "(":
            inner = disj()
            if take() != ")":
                raise ABAPApplicationError("missing )", "OPTION_NOT_VALID")
            return inner
        name, op = token.upper(), take().upper()
        if op == "IN":
            if take() != "(":
                raise ABAPApplicationError("IN needs (", "OPTION_NOT_VALID")
            values = []
            while (t := take()) != ")":
                if t != ",":
                    values.append(lit(t))
            return lambda row: row.get(name, "") in values
        value = lit(take())
        ops = {"=": str.__eq__, "<>": str.__ne__, "<": str.__lt__, "<=": str.__le__, ">": str.__gt__,
               ">=": str.__ge__, "EQ": str.__eq__, "NE": str.__ne__, "GE": str.__ge__, "LE": str.__le__}
        if op not in ops:
            raise ABAPApplicationError(f"operator {op} not supported", "OPTION_NOT_VALID")
        return lambda row: ops[op](str(row.get(name, "")), value)

    def conj():
        left = primary()
        while pos < len(tokens) and tokens[pos].upper() == "AND":
            take()
            right, prev = primary(), left
            left = lambda row, a=prev, b=right: a(row) and b(row)  # noqa: E731
        return left

    def disj():
        left = conj()
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            take()
            right, prev = conj(), left
            left = lambda row, a=prev, b=right: a(row) or b(row)  # noqa: E731
        return left

    predicate = disj()
    if pos != len(tokens):
        raise ABAPApplicationError(f"unexpected {tokens[pos]}", "OPTION_NOT_VALID")
    return predicate


def _msg(kind: str, msg_id: str, number: str, message: str, **extra: str) -> dict[str, str]:
    return {"TYPE": kind, "ID": msg_id, "NUMBER": number, "MESSAGE": message, "LOG_NO": "", "LOG_MSG_NO": "000000",
            "MESSAGE_V1": extra.get("v1", ""), "MESSAGE_V2": "", "MESSAGE_V3": "", "MESSAGE_V4": "",
            "PARAMETER": extra.get("parameter", ""), "ROW": 0, "FIELD": extra.get("field", ""), "SYSTEM": "SBX"}


@dataclass
class FakeRfcBackend:
    """Tables (rows as dicts of internal-format strings), the open LUW, and a log of calls."""

    tables: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pending: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)

    @classmethod
    def seeded(cls, dataset: Any = None) -> FakeRfcBackend:
        from sandbox.sap_rfc_seed import seed_tables

        return cls(tables=seed_tables(dataset))

    def connect(self, **params: str) -> FakeConnection:
        if params.get("passwd") == "wrong":
            raise LogonError("Name or password is incorrect (repeat logon)", "RFC_LOGON_FAILURE")
        return FakeConnection(self)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    # ------------------------------------------------------------------ RFC_READ_TABLE

    def read_table(self, QUERY_TABLE: str, DELIMITER: str = "", NO_DATA: str = "", ROWSKIPS: int = 0,
                   ROWCOUNT: int = 0, OPTIONS: list | None = None, FIELDS: list | None = None, **_: Any) -> dict:
        if QUERY_TABLE not in LAYOUTS:
            raise ABAPApplicationError(f"Table {QUERY_TABLE} not available", "TABLE_NOT_AVAILABLE")
        layout = dict((n, (ln, t)) for n, ln, t in LAYOUTS[QUERY_TABLE][0])
        names = [f["FIELDNAME"] for f in FIELDS or []] or [n for n, _, _ in LAYOUTS[QUERY_TABLE][0]]
        unknown = [n for n in names if n not in layout]
        if unknown:
            raise ABAPApplicationError(f"Field {unknown[0]} not valid", "FIELD_NOT_VALID")
        fields, offset = [], 0
        for name in names:
            length, kind = layout[name]
            fields.append({"FIELDNAME": name, "OFFSET": f"{offset:06d}", "LENGTH": f"{length:06d}", "TYPE": kind,
                           "FIELDTEXT": name})
            offset += length + len(DELIMITER)
        if offset - len(DELIMITER) > ROW_LIMIT:
            raise ABAPApplicationError(f"Row of {offset - len(DELIMITER)} bytes exceeds {ROW_LIMIT}",
                                       "DATA_BUFFER_EXCEEDED")
        if NO_DATA == "X":
            return {"FIELDS": fields, "DATA": [], "OPTIONS": OPTIONS or []}
        lines = [o["TEXT"] for o in OPTIONS or []]
        if any(len(line) > 72 for line in lines):
            raise ABAPApplicationError("OPTIONS line longer than 72 characters", "OPTION_NOT_VALID")
        test = _where(" ".join(lines)) if lines else (lambda row: True)
        rows = [r for r in self.tables.get(QUERY_TABLE, []) if test(r)]
        rows = rows[ROWSKIPS:ROWSKIPS + ROWCOUNT] if ROWCOUNT else rows[ROWSKIPS:]
        data = [{"WA": DELIMITER.join(self._cell(r.get(n, ""), layout[n]) for n in names).rstrip()} for r in rows]
        return {"FIELDS": fields, "DATA": data, "OPTIONS": OPTIONS or []}

    @staticmethod
    def _cell(value: str, spec: tuple[int, str]) -> str:
        length, kind = spec
        return value.rjust(length)[:length] if kind == "P" else value.ljust(length)[:length]

    def fieldinfo(self, TABNAME: str, **_: Any) -> dict:
        """DDIF_FIELDINFO_GET: the dictionary's fields of a table with their output lengths."""
        if TABNAME not in LAYOUTS:
            raise ABAPApplicationError(f"Table {TABNAME} not found", "NOT_FOUND")
        fields = [("MANDT", 3, "C")] + LAYOUTS[TABNAME][0]
        return {"DFIES_TAB": [{"TABNAME": TABNAME, "FIELDNAME": n, "OUTPUTLEN": f"{ln:06d}", "INTTYPE": t,
                               "KEYFLAG": "X" if n in LAYOUTS[TABNAME][1] or n == "MANDT" else ""}
                              for n, ln, t in fields]}

    # ------------------------------------------------------------------ BAPIs

    def savedata(self, HEADDATA: dict, PLANTDATA: dict | None = None, PLANTDATAX: dict | None = None,
                 **_: Any) -> dict:
        matnr = HEADDATA.get("MATERIAL_LONG") or HEADDATA.get("MATERIAL", "")
        plant = (PLANTDATA or {}).get("PLANT", "")
        row = next((r for r in self.tables["MARC"] if r["MATNR"] == matnr and r["WERKS"] == plant), None)
        if not any(r["MATNR"] == matnr for r in self.tables["MARA"]):
            return self._fail(_msg("E", "M3", "305", f"The material {matnr} does not exist or is not activated",
                                   v1=matnr))
        if row is None:
            return self._fail(_msg("E", "M3", "304", f"The material {matnr} does not exist in plant {plant}",
                                   v1=matnr, parameter="PLANTDATA"))
        changes = {}
        for bapi_field, flag in (PLANTDATAX or {}).items():
            if bapi_field == "PLANT" or flag != "X":
                continue
            marc = BAPI_TO_MARC.get(bapi_field)
            if marc is None:
                return self._fail(_msg("E", "M3", "349", f"Field {bapi_field} cannot be maintained",
                                       field=bapi_field))
            value, error = self._check(marc, (PLANTDATA or {}).get(bapi_field, ""))
            if error:
                return self._fail(_msg("E", "00", "058", error, parameter="PLANTDATA", field=bapi_field))
            changes[marc] = value
        self.pending.append((row, changes))
        ok = _msg("S", "M3", "801", f"Material {matnr} changed")
        return {"RETURN": ok, "RETURNMESSAGES": [ok]}

    @staticmethod
    def _check(marc: str, value: Any) -> tuple[str, str | None]:
        if marc in CHECKS:
            table, allowed = CHECKS[marc]
            text = str(value).strip().upper()
            return text, None if text in allowed else f"Entry {text} does not exist in {table} (check entry)"
        spec = dict((n, (ln, t)) for n, ln, t in MARC)[marc]
        if spec[1] in ("P", "N"):
            try:
                number = Decimal(str(value or 0))
            except InvalidOperation:
                return "", f"Enter a numeric value for {marc}"
            if number < 0:
                return "", f"Negative values are not allowed for {marc}"
            return (format(number.quantize(Decimal("0.001")), "f") if spec[1] == "P" else str(int(number))), None
        return str(value), None

    def _fail(self, message: dict[str, str]) -> dict:
        return {"RETURN": message, "RETURNMESSAGES": [message]}

    def commit(self, WAIT: str = "", **_: Any) -> dict:
        for row, changes in self.pending:
            row.update(changes)
        self.pending = []
        return {"RETURN": {"TYPE": "", "ID": "", "NUMBER": "000", "MESSAGE": ""}}

    def rollback(self, **_: Any) -> dict:
        self.pending = []
        return {"RETURN": {"TYPE": "", "ID": "", "NUMBER": "000", "MESSAGE": ""}}

    def call(self, name: str, **params: Any) -> dict[str, Any]:
        self.calls.append((name, params))
        if self.fail_next:
            self.pending = []
            raise self.fail_next.pop(0)
        handlers = {"RFC_PING": lambda **_: {}, "RFC_READ_TABLE": self.read_table, "BBP_RFC_READ_TABLE": self.read_table,
                    "DDIF_FIELDINFO_GET": self.fieldinfo,
                    "BAPI_MATERIAL_SAVEDATA": self.savedata, "BAPI_TRANSACTION_COMMIT": self.commit,
                    "BAPI_TRANSACTION_ROLLBACK": self.rollback}
        if name not in handlers:
            raise ABAPApplicationError(f"Function module {name} not found", "FU_NOT_FOUND")
        return handlers[name](**params)


class FakeConnection:
    """What `pyrfc.Connection(...)` returns: one user session on the fake backend."""

    def __init__(self, backend: FakeRfcBackend):
        self.backend = backend
        self.alive = True

    def call(self, name: str, **params: Any) -> dict[str, Any]:
        if not self.alive:
            raise CommunicationError("connection closed", "RFC_INVALID_HANDLE")
        return self.backend.call(name, **params)

    def close(self) -> None:
        self.alive = False
