"""Writes the input files of the medication-list scenarios in their wire formats:
FHIR R4 / JP Core Bundles (UTF-8 JSON), HL7 v2.5 messages and SS-MIX2 storage trees
(ISO-2022-JP, CR segment ends), UKE claims (Shift_JIS, CRLF), and each scenario's
`scenario.json` (who posts what, when). The expectations (`expectations.json`) are written
by hand, not here. Run from this folder: `python3 make_inputs.py`. All names, ids and
patient data are synthetic; drug codes are real (see mappings/drugs.csv)."""

import json
import os

JP = "http://jpfhir.jp/fhir/core/StructureDefinition/"
EXT = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/"
MEMBER = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
LOCAL_PATIENT = "urn:oid:1.2.392.100495.20.3.51.1"
HOT9 = "urn:oid:1.2.392.200119.4.403.1"
YJ = "urn:oid:1.2.392.100495.20.2.73"
MERIT9 = "urn:oid:1.2.392.100495.20.2.101"
UCUM = "http://unitsofmeasure.org"
JAMI = "urn:oid:1.2.392.200250.2.2.20"
ROUTE = "http://jpfhir.jp/fhir/core/CodeSystem/route-codes"

INSURER = "06139463"
CLINIC_A = "1312345678"   # FHIR EMR
CLINIC_B = "1319876543"   # HL7 v2 / SS-MIX2 EMR, in-house dispensing
CLINIC_C = "1310000109"   # known only from claims
PHARMACY = "1342345678"   # FHIR pharmacy system

THREE_TIMES = ("1013044400000000", "内服・経口・１日３回朝昼夕食後")
TWICE = ("1012040400000000", "内服・経口・１日２回朝夕食後")


def member(number):
    return f"{INSURER}:12:{number}:01"


# ---------------------------------------------------------------- FHIR

def patient(pid, facility, local_id, number, name, kana, gender, birth):
    family, given = name
    kfamily, kgiven = kana
    return {
        "resourceType": "Patient", "id": pid,
        "meta": {"profile": [JP + "JP_Patient"]},
        "identifier": [
            {"system": LOCAL_PATIENT + facility, "value": local_id},
            {"system": MEMBER, "value": member(number)},
        ],
        "name": [
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}],
             "use": "official", "text": f"{family} {given}", "family": family, "given": [given]},
            {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
             "use": "official", "text": f"{kfamily} {kgiven}", "family": kfamily, "given": [kgiven]},
        ],
        "gender": gender, "birthDate": birth,
    }


def tab(value):
    return {"value": value, "unit": "錠", "system": MERIT9, "code": "TAB"}


def days(value):
    return {"value": value, "unit": "日", "system": UCUM, "code": "d"}


def dosage(route, usage, dose, daily, as_needed=False, start=None):
    d = {}
    if start:
        d["extension"] = [{"url": EXT + "JP_MedicationDosage_PeriodOfUse", "valuePeriod": {"start": start}}]
    d["text"] = usage[1]
    if usage[0]:
        d["timing"] = {"code": {"coding": [{"system": JAMI, "code": usage[0], "display": usage[1]}]}}
    if as_needed:
        d["asNeededBoolean"] = True
    d["route"] = {"coding": [{"system": ROUTE, "code": route[0], "display": route[1]}]}
    rate = {"doseQuantity": tab(dose)}
    if daily is not None:
        rate["rateRatio"] = {"numerator": tab(daily), "denominator": days(1)}
    d["doseAndRate"] = [rate]
    return d


def identifiers(facility, rid, rp):
    return [
        {"system": "urn:oid:1.2.392.100495.20.3.81", "value": str(rp)},
        {"system": "urn:oid:1.2.392.100495.20.3.82", "value": "1"},
        {"system": "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier", "value": f"{facility}.{rid}"},
    ]


def request(rid, facility, pid, coding, authored, supply, dose, daily, usage=THREE_TIMES,
            route=("PO", "口"), rp=1, as_needed=False, quantity=None):
    system, code, display = coding
    date = authored[:10]
    r = {
        "resourceType": "MedicationRequest", "id": rid,
        "meta": {"profile": [JP + "JP_MedicationRequest"]},
        "identifier": identifiers(facility, rid, rp),
        "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": authored,
        "dosageInstruction": [dosage(route, usage, dose, daily, as_needed, date)],
        "dispenseRequest": {},
    }
    if quantity is not None:
        r["dispenseRequest"]["quantity"] = tab(quantity)
    if supply is not None:
        r["dispenseRequest"]["expectedSupplyDuration"] = days(supply)
    return r


def dispense(rid, facility, pid, coding, handed, supply, quantity, dose, daily, usage=THREE_TIMES):
    system, code, display = coding
    return {
        "resourceType": "MedicationDispense", "id": rid,
        "meta": {"profile": [JP + "JP_MedicationDispense"]},
        "identifier": identifiers(facility, rid, 1),
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "quantity": tab(quantity),
        "daysSupply": days(supply),
        "whenHandedOver": handed,
        "dosageInstruction": [dosage(("PO", "口"), usage, dose, daily)],
    }


def bundle(identifier, resources):
    return {
        "resourceType": "Bundle", "type": "transaction",
        "identifier": {"system": "urn:kakari:scenario", "value": identifier},
        "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                  for r in resources],
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


# ---------------------------------------------------------------- HL7 v2 / SS-MIX2

def hl7(path, segments):
    text = "\r".join(s.rstrip("|") for s in segments) + "\r"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode("iso2022_jp"))


def msh(control, kind, at):
    return f"MSH|^~\\&|EMR|CLINIC_B|KAKARI|GW|{at}||{kind}|{control}|P|2.5||||||~ISO IR87||ISO 2022-1994"


def pid(local_id, name, kana, birth, sex):
    return f"PID|0001||{local_id}^^^^PI||{name[0]}^{name[1]}^^^^^L^I~{kana[0]}^{kana[1]}^^^^^L^P||{birth}|{sex}"


def adt(control, at, local_id, name, kana, birth, sex, number):
    # IN1-3 insurer number, IN1-10 記号 ~ 枝番, IN1-11 番号 (full-width, as cards print them).
    wide = str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return [
        msh(control, "ADT^A08^ADT_A01", at),
        f"EVN||{at}",
        pid(local_id, name, kana, birth, sex),
        "PV1|0001|O",
        f"IN1|1|06^組合管掌健康保険^JHSD0001|{INSURER}|||||||１２~01|{wide}|20200401|||||SEL^本人^HL70063",
    ]


def rde(control, at, local_id, name, kana, birth, sex, order, drugs):
    """drugs: (rp, code^name^system, dose, unit, daily, usage, supply, start, route)."""
    out = [msh(control, "RDE^O11^RDE_O11", at), pid(local_id, name, kana, birth, sex), "PV1|0001|O"]
    for rp, drug, dose, unit, daily, usage, supply, start, route in drugs:
        daily_field = f"{daily}^{unit[0]}&{unit[1]}&MR9P" if daily else ""
        usage_field = f"{usage[0]}&{usage[1]}&JAMISDP01" if usage[0] else f"&{usage[1]}"
        out += [
            f"ORC|NW|{order}||{rp}|||||{at}|||D01^医師^一郎^^^^^^^L^^^^^I",
            f"RXE||{drug}|{dose}||{unit[0]}^{unit[1]}^MR9P|||||{supply}|{unit[0]}^{unit[1]}^MR9P||||||||{daily_field}",
            f"TQ1|1||{usage_field}|||{supply}^d|{start}",
            f"RXR|{route[0]}^{route[1]}^HL70162",
        ]
    return out


# ---------------------------------------------------------------- UKE

def uke(path, lines):
    text = "\r\n".join(lines) + "\r\n"
    with open(path, "wb") as f:
        f.write(text.encode("cp932"))


def re_line(number, month, name, sex, birth, chart, kana):
    fields = [""] * 38
    fields[0:7] = ["RE", str(number), "1112", month, name, str(sex), birth]
    fields[13] = chart
    fields[36] = kana
    return ",".join(fields)


def ho(number, points, days_):
    wide = str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return f"HO,{INSURER},１２,{wide},{days_},{points},,,,,,,,,"


SN = "SN,1,01,,,,01,,"


def iy(identification, code, amount, points, count, day_counts):
    days_ = [""] * 31
    for d, c in day_counts.items():
        days_[d - 1] = str(c)
    return ",".join(["IY", identification, "1", code, str(amount), str(points), str(count)] + [""] * 6 + days_)


def medical_claims(path, institution, claim_month, receipts):
    """receipts: (number, service_month, patient, chart, member number, [iy lines with points x count])."""
    lines = [f"IR,1,{institution[:2]},1,{institution[3:]},,テスト医院,{claim_month},00,0300000000"]
    total = 0
    for number, month, person, chart, member_number, items in receipts:
        points = sum(p * c for (_, _, _, p, c, _) in items)
        total += points
        lines += [re_line(number, month, person[0], person[1], person[2], chart, person[3]),
                  ho(member_number, points, len({d for i in items for d in i[5]})), SN]
        lines += [iy(*i) for i in items]
    lines.append(f"GO,{len(receipts)},{total},99")
    uke(path, lines)


# ---------------------------------------------------------------- scenarios

def scenario(folder, description, number, as_of, inputs):
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "scenario.json"), {
        "description": description,
        "member": member(number),
        "asOf": as_of,
        "inputs": inputs,
    })


def emr(facility):
    return {"role": "emr", "facility": facility}


def pharmacy():
    return {"role": "pharmacy", "facility": PHARMACY}


def insurer():
    return {"role": "insurer", "insurer": INSURER}


def entry(file, fmt, client, received):
    post = {"fhir": "/fhir", "hl7v2": "/hl7v2", "ssmix2": "/ssmix2", "uke": "/insurer/claims"}[fmt]
    return {"file": file, "format": fmt, "post": post, "client": client, "receivedAt": received}


NORVASC = (HOT9, "103299401", "ノルバスク錠５ｍｇ")


def s01():
    f = "01-prescription-dispensing-claim"
    os.makedirs(f, exist_ok=True)
    a = patient("ml01-a-pat", CLINIC_A, "A-1001", 1001, ("試験", "一郎"), ("シケン", "イチロウ"), "male", "1955-07-01")
    write_json(f"{f}/clinic-a.json", bundle("ml01-clinic-a", [
        a, request("ml01-a-rx1", CLINIC_A, a["id"], NORVASC, "2024-04-05T10:30:00+09:00", 28, 1, 1,
                   usage=("", "内服・経口・１日１回朝食後"), quantity=28)]))
    p = patient("ml01-p-pat", PHARMACY, "P-5501", 1001, ("試験", "一郎"), ("シケン", "イチロウ"), "male", "1955-07-01")
    write_json(f"{f}/pharmacy.json", bundle("ml01-pharmacy", [
        p, dispense("ml01-p-md1", PHARMACY, p["id"], (YJ, "2171022F2025", "ノルバスク錠５ｍｇ"),
                    "2024-04-06T11:15:00+09:00", 28, 28, 1, 1, usage=("", "内服・経口・１日１回朝食後"))]))
    uke(f"{f}/claims-pharmacy-202405.UKE", [
        f"YK,1,13,4,{PHARMACY[3:]},,テスト薬局,202405,00,0300000001",
        "RE,1,1112,202404,試験　一郎,1,19550701,,,,,,",
        ho(1001, 620, 1), SN,
        f"SH,13,1,{CLINIC_A[3:]},処方　医師",
        "CZ,1,20240405,20240406,1,,,28",
        "IY,1,612170710,1",
        "GO,1,620,99",
    ])
    scenario(f, "A clinic's prescription (FHIR), the pharmacy's dispensing of it (FHIR) and the "
                "insurer's 調剤 claim for it, posted two months later (UKE), are one entry with "
                "three sources.", 1001, "2024-04-30", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-04-05T10:31:00+09:00"),
        entry("pharmacy.json", "fhir", pharmacy(), "2024-04-06T11:20:00+09:00"),
        entry("claims-pharmacy-202405.UKE", "uke", insurer(), "2024-06-10T09:00:00+09:00"),
    ])


def clinic_b_hl7(folder, person, number, local_id, order, drugs, at):
    name, kana, birth, sex = person
    hl7(f"{folder}/clinic-b-adt.hl7", adt(f"ML{number}A", at, local_id, name, kana, birth, sex, number))
    hl7(f"{folder}/clinic-b-rde.hl7", rde(f"ML{number}R", at, local_id, name, kana, birth, sex, order, drugs))


def s02():
    f = "02-second-clinic-duplicate"
    os.makedirs(f, exist_ok=True)
    a = patient("ml02-a-pat", CLINIC_A, "A-1002", 1002, ("試験", "二郎"), ("シケン", "ジロウ"), "male", "1960-04-02")
    write_json(f"{f}/clinic-a.json", bundle("ml02-clinic-a", [
        a,
        request("ml02-a-rx1", CLINIC_A, a["id"], NORVASC, "2024-05-01T09:00:00+09:00", 28, 1, 1,
                usage=("", "内服・経口・１日１回朝食後")),
        request("ml02-a-rx2", CLINIC_A, a["id"], NORVASC, "2024-05-29T09:00:00+09:00", 28, 1, 1,
                usage=("", "内服・経口・１日１回朝食後")),
    ]))
    clinic_b_hl7(f, (("試験", "二郎"), ("シケン", "ジロウ"), "19600402", "M"), 1002, "B1002", "000000020240510", [
        (1, "103300702^アムロジン錠５ｍｇ^HOT9", 1, ("TAB", "錠"), 1, ("", "内服・経口・１日１回朝食後"),
         30, "20240510", ("PO", "口")),
    ], "20240510100000")
    scenario(f, "A second clinic (HL7 v2) prescribes the same ingredient and route (amlodipine "
                "tablets, another brand) while the first clinic's course (FHIR, two successive "
                "prescriptions) runs: two entries and exactly one DUPTHPY.", 1002, "2024-06-15", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-05-29T09:05:00+09:00"),
        entry("clinic-b-adt.hl7", "hl7v2", emr(CLINIC_B), "2024-05-10T10:00:30+09:00"),
        entry("clinic-b-rde.hl7", "hl7v2", emr(CLINIC_B), "2024-05-10T10:01:00+09:00"),
    ])


def s03():
    f = "03-six-oral-drugs"
    os.makedirs(f, exist_ok=True)
    a = patient("ml03-a-pat", CLINIC_A, "A-1003", 1003, ("試験", "三郎"), ("シケン", "サブロウ"), "male", "1948-11-20")
    at = "2024-05-07T11:00:00+09:00"
    drugs = [
        (NORVASC, 1, 1, ("", "内服・経口・１日１回朝食後")),
        ((HOT9, "103465301", "メバロチン錠１０"), 1, 1, ("", "内服・経口・１日１回夕食後")),
        ((HOT9, "108742001", "メルビン錠"), 1, 3, THREE_TIMES),
        ((HOT9, "103835401", "ムコダイン錠２５０ｍｇ"), 2, 6, THREE_TIMES),
        ((HOT9, "108665201", "ダーゼン５ｍｇ錠"), 1, 3, THREE_TIMES),
        ((HOT9, "106824501", "５ｍｇアリナミンＦ糖衣錠"), 1, 3, THREE_TIMES),
    ]
    resources = [a]
    for i, (coding, dose, daily, usage) in enumerate(drugs, start=1):
        resources.append(request(f"ml03-a-rx{i}", CLINIC_A, a["id"], coding, at, 28, dose, daily,
                                 usage=usage, rp=i))
    resources.append(request("ml03-a-rx7", CLINIC_A, a["id"], (YJ, "1149019F1560", "ロキソニン錠６０ｍｇ"),
                             at, None, 1, None, usage=("", "内服・頓用・疼痛時"), rp=7, as_needed=True,
                             quantity=10))
    write_json(f"{f}/clinic-a.json", bundle("ml03-clinic-a", resources))
    scenario(f, "Six distinct regular oral drugs active at once (and one as-needed analgesic, "
                "listed but not counted): one polypharmacy finding.", 1003, "2024-05-20", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-05-07T11:05:00+09:00"),
    ])


def s04():
    f = "04-topical-and-oral-same-ingredient"
    os.makedirs(f, exist_ok=True)
    a = patient("ml04-a-pat", CLINIC_A, "A-1004", 1004, ("試験", "四郎"), ("シケン", "シロウ"), "male", "1970-01-15")
    write_json(f"{f}/clinic-a.json", bundle("ml04-clinic-a", [
        a, request("ml04-a-rx1", CLINIC_A, a["id"], (YJ, "1149019F1560", "ロキソニン錠６０ｍｇ"),
                   "2024-06-01T15:00:00+09:00", 14, 1, 3)]))
    medical_claims(f"{f}/claims-clinic-b-202407.UKE", CLINIC_B, "202407", [
        (1, "202406", ("試験　四郎", 1, "19700115", "ｼｹﾝ ｼﾛｳ"), "B1004", 1004,
         [("23", "620007812", 14, 25, 1, {3: 1})]),
    ])
    scenario(f, "Loxoprofen tablets from one clinic (FHIR) and loxoprofen tape from another, "
                "known only from its 医科 claim (UKE, 外用): same ingredient, different route, no "
                "duplicate; the tape is listed with the topical span and not counted as oral.",
             1004, "2024-06-20", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-06-01T15:05:00+09:00"),
        entry("claims-clinic-b-202407.UKE", "uke", insurer(), "2024-07-10T09:00:00+09:00"),
    ])


def s05():
    f = "05-course-ended-before-window"
    os.makedirs(f, exist_ok=True)
    a = patient("ml05-a-pat", CLINIC_A, "A-1005", 1005, ("試験", "五郎"), ("シケン", "ゴロウ"), "male", "1965-03-03")
    write_json(f"{f}/clinic-a.json", bundle("ml05-clinic-a", [
        a,
        request("ml05-a-rx1", CLINIC_A, a["id"], (HOT9, "104312901", "ガスター錠２０ｍｇ"),
                "2024-01-10T10:00:00+09:00", 14, 1, 2, usage=TWICE),
        request("ml05-a-rx2", CLINIC_A, a["id"], NORVASC, "2024-06-10T10:00:00+09:00", 28, 1, 1,
                usage=("", "内服・経口・１日１回朝食後")),
    ]))
    scenario(f, "A course that ended in January is outside the 100-day window of asOf "
                "2024-06-30: absent; the current prescription is listed.", 1005, "2024-06-30", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-06-10T10:05:00+09:00"),
    ])


def s06():
    f = "06-unmapped-drug-kept"
    os.makedirs(f, exist_ok=True)
    a = patient("ml06-a-pat", CLINIC_A, "A-1006", 1006, ("試験", "六郎"), ("シケン", "ロクロウ"), "male", "1958-06-06")
    write_json(f"{f}/clinic-a.json", bundle("ml06-clinic-a", [
        a, request("ml06-a-rx1", CLINIC_A, a["id"], (HOT9, "199999901", "試験薬錠１０ｍｇ"),
                   "2024-06-05T10:00:00+09:00", 28, 1, 1, usage=("", "内服・経口・１日１回朝食後"))]))
    clinic_b_hl7(f, (("試験", "六郎"), ("シケン", "ロクロウ"), "19580606", "M"), 1006, "B1006", "000000020240612", [
        (1, "9900123^院内製剤Ａ軟膏^99LOC", 10, ("G", "g"), None, ("", "外用・塗布・１日２回"),
         14, "20240612", ("AP", "塗布")),
        (2, "9900456^院内採用カルボシステイン錠^99LOC", 2, ("TAB", "錠"), 6, THREE_TIMES,
         14, "20240612", ("PO", "口")),
    ], "20240612100000")
    scenario(f, "Drugs no master maps stay in the list under their own code, marked unmapped: a "
                "HOT9 the masters do not know (FHIR) and a clinic's local code (HL7 v2, 99LOC); "
                "another local code of that clinic maps through its local table "
                "(mappings/local-drugs/1319876543.csv).", 1006, "2024-06-30", [
        entry("clinic-a.json", "fhir", emr(CLINIC_A), "2024-06-05T10:05:00+09:00"),
        entry("clinic-b-adt.hl7", "hl7v2", emr(CLINIC_B), "2024-06-12T10:00:30+09:00"),
        entry("clinic-b-rde.hl7", "hl7v2", emr(CLINIC_B), "2024-06-12T10:01:00+09:00"),
    ])


def s07():
    f = "07-ssmix2-and-uke-same-person"
    os.makedirs(f, exist_ok=True)
    name, kana, birth, sex = (("試験", "七郎"), ("シケン", "シチロウ"), "19520707", "M")
    pid_ = "2024000701"
    root = f"{f}/clinic-b-ssmix2/{pid_[0:3]}/{pid_[3:6]}/{pid_}"
    hl7(f"{root}/-/ADT-00/{pid_}_-_ADT-00_999999999999999_20240508090000000_-_1",
        adt("ML1007A", "20240508090000", pid_, name, kana, birth, sex, 1007))
    hl7(f"{root}/20240508/OMP-01/{pid_}_20240508_OMP-01_000000020240508_20240508093000000_01_1",
        rde("ML1007R", "20240508093000", pid_, name, kana, birth, sex, "000000020240508", [
            (1, "103465301^メバロチン錠１０^HOT9", 1, ("TAB", "錠"), 1, ("", "内服・経口・１日１回夕食後"),
             28, "20240508", ("PO", "口")),
            (2, "103216101^アダラートＣＲ錠２０ｍｇ^HOT9", 1, ("TAB", "錠"), 1, ("", "内服・経口・１日１回朝食後"),
             28, "20240508", ("PO", "口")),
        ]))
    person = ("試験　七郎", 1, "19520707", "ｼｹﾝ ｼﾁﾛｳ")
    medical_claims(f"{f}/claims-clinic-b-202406.UKE", CLINIC_B, "202406", [
        (1, "202405", person, pid_, 1007, [
            ("21", "612180265", 1, 2, 28, {8: 28}),
            ("21", "610421321", 1, 3, 28, {8: 28}),
        ]),
    ])
    medical_claims(f"{f}/claims-clinic-c-202406.UKE", CLINIC_C, "202406", [
        (1, "202405", person, "C-77", 1007, [("21", "612320350", 2, 4, 14, {20: 14})]),
    ])
    scenario(f, "An SS-MIX2 storage tree (ADT-00 with IN1, OMP-01 RDE^O11) from a clinic with "
                "in-house dispensing and the insurer's 医科 claims of the same person: the claims "
                "enrich the SS-MIX2 prescriptions, and a third clinic known only from its claims "
                "is in the same list.", 1007, "2024-06-10", [
        entry("clinic-b-ssmix2", "ssmix2", emr(CLINIC_B), "2024-05-08T18:00:00+09:00"),
        entry("claims-clinic-b-202406.UKE", "uke", insurer(), "2024-06-12T09:00:00+09:00"),
        entry("claims-clinic-c-202406.UKE", "uke", insurer(), "2024-06-12T09:00:05+09:00"),
    ])


if __name__ == "__main__":
    for make in (s01, s02, s03, s04, s05, s06, s07):
        make()
