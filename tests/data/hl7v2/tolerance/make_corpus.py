"""Writes the HL7 v2 tolerance corpus: one small message file per shape real senders use,
each with its expectations file (`<name>.expect`, read by
`tests/it/hl7v2_codec.rs::tolerance_corpus`). Run from this folder:
`python3 make_corpus.py`. Encodings and segment ends are written byte-exactly here, so
never let an editor re-save the `.hl7` files. All names, ids and codes are synthetic,
written for kakari from the HL7 v2.3-2.8 and JAHIS message structures.

Expectations are `key = value` lines; keys are documented in the test. `ack` holds for
every message of the file, every other key for the first one unless it says otherwise.
"""

BOM = b'\xef\xbb\xbf'


def w(name, text, enc='utf-8', eol='\r', prefix=b'', expect=''):
    body = text.strip('\n').replace('\n', eol) + eol
    with open(name + '.hl7', 'wb') as f:
        f.write(prefix + body.encode(enc))
    with open(name + '.expect', 'w', encoding='utf-8') as f:
        f.write(expect.strip('\n') + '\n')


ADT = r"""MSH|^~\&|HIS|CLINIC|KAKARI|GW|20240501090000||ADT^A08^ADT_A01|{id}|P|{ver}||||||UNICODE UTF-8
EVN||20240501090000
PID|0001||T000100^^^^PI||試験^一郎^^^^^L^I~シケン^イチロウ^^^^^L^P||19750102|M
PV1|0001|O"""

# 1. A UTF-8 byte-order mark before MSH.
w('bom_single', ADT.format(id='BOM-1', ver='2.5'), prefix=BOM, expect="""
ack = AA
issues = hl7.byte_order_mark
subject = T000100
family = 試験
given = 一郎
kana_family = シケン
""")

# 2. A batch whose file starts with a BOM, and a second file concatenated with its own.
batch = ('FHS|^~\\&|HIS|CLINIC\nBHS|^~\\&|HIS|CLINIC\n'
         + ADT.format(id='BOMB-1', ver='2.5') + '\n').replace('\n', '\r').encode('utf-8')
batch += BOM + (ADT.format(id='BOMB-2', ver='2.5') + '\nBTS|2\nFTS|1\n').replace('\n', '\r').encode('utf-8')
with open('bom_batch.hl7', 'wb') as f:
    f.write(BOM + batch)
with open('bom_batch.expect', 'w', encoding='utf-8') as f:
    f.write("""ack = AA
messages = 2
issues = hl7.byte_order_mark
m2.issues = hl7.byte_order_mark
subject = T000100
""")

ORU25 = r"""MSH|^~\&|LIS|LAB|KAKARI|GW|20240502120000||ORU^R01^ORU_R01|ORU-{n}|P|2.5||||||UNICODE UTF-8
PID|0001||T000200^^^^PI||検査^花子^^^^^L^I||19800303|F
PV1|0001|O
ORC|RE|000000020240502|L0001||CM
OBR|1|000000020240502|L0001|E001^生化学^99O03|||20240502083000|||||||||D01^医師^一郎^^^^^^^L^^^^^I
OBX|1|NM|3D010000001926101^グルコース^JC10^G001^血糖^99LAB||126.0|mg/dL^mg/dL^ISO+|70-109|H|||F|||20240502083500
NTE|1||空腹時
OBX|2|SN|3H020000002327101^CRP^JC10||<^0.05|mg/dL^mg/dL^ISO+|<0.30|N|||F
OBX|3|ST|1A010000000191111^尿蛋白定性^JC10||(-)||(-)||||F
OBX|4|CWE|5H010000009199911^血液型^JC10||A^A型^JSHR002||||||F
SPM|1|S0001||023^血清^JC10|||||||||||||20240502080000"""

# 3-5. Segment ends: LF, CRLF, CR.
w('ends_lf', ORU25.format(n='LF'), eol='\n', expect="""
ack = AA
issues = hl7.segment_terminator
labs = 4
lab.0.value = 126.0
""")
w('ends_crlf', ORU25.format(n='CRLF'), eol='\r\n', expect="""
ack = AA
issues = hl7.segment_terminator
labs = 4
""")
w('ends_cr', ORU25.format(n='CR'), expect="""
ack = AA
no_issues = hl7.segment_terminator
labs = 4
""")

# 6. ORU^R01 (v2.5): values of every type, ranges, flags, specimen after the results.
w('oru_r01', ORU25.format(n='1'), expect="""
ack = AA
labs = 4
lab.0.jlac10 = 3D010000001926101
lab.0.value = 126.0
lab.0.unit = mg/dL
lab.0.range = 70-109
lab.0.flag = H
lab.0.status = final
lab.0.effective = 2024-05-02T08:35:00+09:00
lab.0.specimen = 023
lab.1.value = <0.05
lab.1.effective = 2024-05-02T08:30:00+09:00
lab.2.value = (-)
lab.3.value = A
""")

# 7. HL7 v2.3 ORU^R01: NK1 before NTE, specimen in OBR-15, no SPM.
w('version_v23_oru', r"""MSH|^~\&|ANALYSER|LAB|KAKARI|GW|20240503100000||ORU^R01|V23-1|P|2.3
PID|1||T000300^^^^PI||ケンサ^ジロウ^^^^^L^P||19900404|M
NK1|1|ケンサ^ハナ|SPO
NTE|1||
PV1|1|O
OBR|1||A0001|CBC^血算^99LAB|||20240503091500||||||||SER&血清&99SPM
OBX|1|NM|2A990000001930952^白血球数^JC10||6.2|10*3/uL^10*3/uL^ISO+|3.3-8.6||||F
OBX|2|NM|2A020000001930101^赤血球数^JC10||4.85|10*6/uL^10*6/uL^ISO+|4.35-5.55||||F
""", expect="""
ack = AA
labs = 2
lab.1.value = 4.85
lab.0.specimen = SER
lab.0.effective = 2024-05-03T09:15:00+09:00
kana_family = ケンサ
""")

# 8. HL7 v2.8 ORU^R01 with later-version segments (PRT, ARV) and SPM.
w('version_v28_oru_prt_arv', r"""MSH|^~\&|LIS|LAB|KAKARI|GW|20240504100000||ORU^R01^ORU_R01|V28-1|P|2.8||||||UNICODE UTF-8
PID|1||T000400^^^^PI||検査^三郎^^^^^L^I||19700505|M
ARV|1|A
PV1|1|O
PRT|1|AD||RO^Responsible Observer^HL70912|D02^医師^次郎
ORC|RE|000000020240504
OBR|1|000000020240504||E002^脂質^99O03|||20240504081000
OBX|1|NM|3F077000002327101^LDL-コレステロール^JC10||142|mg/dL^mg/dL^ISO+|70-139|H|||F
PRT|2|AD||PO^Performing Organization^HL70912
SPM|1|S0002||023^血清^JC10|||||||||||||20240504080000
""", expect="""
ack = AA
issues = hl7.segment_ignored
labs = 1
lab.0.value = 142
lab.0.specimen = 023
""")

RDE27 = r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240505090000||RDE^O11^RDE_O11|V27-1|P|2.7||||||UNICODE UTF-8
PID|0001||T000500^^^^PI||処方^五郎^^^^^L^I||19600606|M
ORC|NW|000000020240505||1|||||20240505085000|||D03^医師^三郎^^^^^^^L^^^^^I
PRT|1|AD||OP^Ordering Provider^HL70912
RXE||620004523^ロキソニン錠６０ｍｇ^HOT9|1||TAB^錠^MR9P|||||21|TAB^錠^MR9P||||||||3^TAB&錠&MR9P
PRT|2|AD||DP^Dispensing Provider^HL70912
TQ1|1||1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01|||7^d|20240505
RXR|PO^口^HL70162"""

# 9. HL7 v2.7 RDE^O11 with PRT after ORC and RXE.
w('version_v27_rde_prt', RDE27, expect="""
ack = AA
issues = hl7.segment_ignored
medications = 1
med.0.route = oral
med.0.supply_days = 7
med.0.dispense = 21 TAB
""")

# 10. Site-defined Z segments anywhere.
w('z_segments', r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240506090000||RDE^O11^RDE_O11|Z-1|P|2.5||||||UNICODE UTF-8
ZPI|1|local
PID|0001||T000600^^^^PI||乙^六子^^^^^L^I||19700707|F
ZPD|1|x
ORC|NW|000000020240506||1|||||20240506085000
RXE||103835401^ソラナックス０．４ｍｇ錠^HOT9|1||TAB^錠^MR9P||||||||||||||2^TAB&錠&MR9P
ZRX|1
TQ1|1||1012040400000000&内服・経口・１日２回朝夕食後&JAMISDP01|||14^d|20240506
RXR|PO^口^HL70162
ZE1|1
""", expect="""
ack = AA
no_issues = hl7.segment_ignored, hl7.segment_order
medications = 1
med.0.supply_days = 14
""")

# 11. Repeated PID-3 identifiers (medical record number, internal id, member number).
w('repeated_identifiers', r"""MSH|^~\&|HIS|CLINIC|KAKARI|GW|20240507090000||ADT^A08^ADT_A01|ID-1|P|2.5||||||UNICODE UTF-8
EVN||20240507090000
PID|0001||MR-77^^^HOSP^MR~T000700^^^CLINIC&1.2.392.200119.6.102.11311234567&ISO^PI~06139463:12:345:01^^^^JHN||複数^七郎^^^^^L^I||19770707|M
PV1|0001|O
""", expect="""
ack = AA
subject = T000700
identifiers = 3
identifier.0 = MR-77 HOSP MR
identifier.1 = T000700 CLINIC PI
identifier.2 = 06139463:12:345:01 - JHN
""")

# 12. Empty fields, empty components and HL7's explicit null "".
w('empty_and_null', r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240508090000||RDE^O11^RDE_O11|NULL-1|P|2.5||||||UNICODE UTF-8
PID|0001||T000800^^^^PI||空欄^八子^""^^^^L^I||""|""
PV1|""|O
ORC|NW|000000020240508||1|||||20240508085000|""|||""
RXE|""|620004523^ロキソニン錠６０ｍｇ^HOT9|1|""|TAB^錠^MR9P|""|||||||||||||""
TQ1|1||1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01|""||5^d|20240508
RXR|PO^^HL70162|""
""", expect="""
ack = AA
medications = 1
family = 空欄
med.0.supply_days = 5
med.0.dose = 1 TAB
""")

# 13. `¥` written as the escape character (UTF-8 converted from Shift_JIS).
w('yen_escape', """MSH|^~¥&|EMR|CLINIC|KAKARI|GW|20240509090000||ADT^A08^ADT_A01|YEN-1|P|2.5||||||UNICODE UTF-8
EVN||20240509090000
PID|0001||T000900^^^^PI||山¥T¥川^九子^^^^^L^I||19900909|F
PV1|0001|O
""", expect="""
ack = AA
issues = hl7.delimiters
family = 山&川
""")

# 14. Full-width digits in a number and in an id.
w('fullwidth_digits', r"""MSH|^~\&|LIS|LAB|KAKARI|GW|20240510090000||ORU^R01^ORU_R01|FW-1|P|2.5||||||UNICODE UTF-8
PID|0001||Ｔ００１０００^^^^PI||全角^十郎^^^^^L^I||19601010|M
OBR|1|||E003^糖代謝^99O03|||20240510080000
OBX|1|NM|3D046000001906202^HbA1c(NGSP)^JC10||６．８０|%^%^ISO+|4.6-6.2|H|||F
""", expect="""
ack = AA
issues = hl7.invalid_value
subject = T001000
labs = 1
lab.0.value = 6.80
""")

# 15. Trailing empty segments and blank lines after the last segment.
w('trailing_empty_segments', r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240511090000||ADT^A60^ADT_A60|TR-1|P|2.5||||||UNICODE UTF-8
EVN||20240511090000
PID|0001||T001100^^^^PI||末尾^十一^^^^^L^I||19701111|M
IAM|1|FA^食物アレルギー^HL70127|J2000001^そば^99FOOD|SV^重度^HL70128
NTE|
ZXX||||


""", expect="""
ack = AA
issues = hl7.segment_ignored
allergies = 1
""")

# 16-17. MSH-18 missing while the bytes are UTF-8 or Shift_JIS.
NO18 = r"""MSH|^~\&|HIS|CLINIC|KAKARI|GW|20240512090000||ADT^A08^ADT_A01|{id}|P|2.5
EVN||20240512090000
PID|0001||T001200^^^^PI||予表^十二^^^^^L^I~ヨヒョウ^ジュウニ^^^^^L^P||19721212|F
PV1|0001|O"""
w('no_msh18_utf8', NO18.format(id='N18-U'), expect="""
ack = AA
issues = hl7.charset_mismatch
charset = utf-8
family = 予表
kana_family = ヨヒョウ
""")
w('no_msh18_shift_jis', NO18.format(id='N18-S'), enc='shift_jis', expect="""
ack = AA
issues = hl7.charset_mismatch
charset = shift_jis
family = 予表
given = 十二
""")

# 18. HL7 v2.3 version id on a prescription (RDE^O01: no TQ1, RXR right after RXE).
w('version_v23_rde', r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240513090000||RDE^O01|V23-2|P|2.3
PID|1||T001300^^^^PI||キュウハン^サブロウ^^^^^L^P||19550313|M
ORC|NW|000000020240513||1|||||20240513085000
RXE||108665201^ダーゼン錠^HOT9|1||TAB^錠^MR9P|||||3|TAB^錠^MR9P
RXR|PO^口^HL70162
""", expect="""
ack = AA
medications = 1
med.0.route = oral
med.0.dispense = 3 TAB
med.0.supply_days = -
""")

# 19. An injection: route as coded (IM), explicit times, a duration in hours.
w('injection_times_hours', r"""MSH|^~\&|EMR|HOSP|KAKARI|GW|20240514090000||RDE^O11^RDE_O11|INJ-2|P|2.5||||||UNICODE UTF-8
PID|0001||T001400^^^^PI||注射^十四^^^^^L^I||19640414|M
ORC|NW|000000020240514||000000020240514_01_001|||||20240514085000
RXE||00^一般^99I02|2||ML^mL^MR9P|INJ^注射剤^MR9P
TQ1|1|||0900~2100||12^h|20240514
RXR|IM^筋肉内^HL70162
RXC|B|620007329^注射薬Ａ^HOT9|1|AMP^アンプル^MR9P
""", expect="""
ack = AA
medications = 1
med.0.route = injection
med.0.route_code = IM
med.0.times = 09:00,21:00
med.0.duration = 12 h
med.0.supply_days = -
med.0.dose = 1 AMP
med.0.mixture_dose = 2 ML
""")

# 20. A rectal 頓用 order: ten doses, not ten days.
w('rectal_as_needed', r"""MSH|^~\&|EMR|CLINIC|KAKARI|GW|20240515090000||RDE^O11^RDE_O11|PR-1|P|2.5||||||UNICODE UTF-8
PID|0001||T001500^^^^PI||坐薬^十五^^^^^L^I||20100115|F
ORC|NW|000000020240515||1|||||20240515085000
RXE||620000000^解熱坐剤１００ｍｇ^HOT9|1||KO^個^MR9P|||||10|KO^個^MR9P
TQ1|1||2050110020000000&外用・頓用・発熱時&JAMISDP01|||10^回&回&99TQU|20240515
RXR|PR^直腸^HL70162
""", expect="""
ack = AA
medications = 1
med.0.route = rectal
med.0.route_code = PR
med.0.doses = 10
med.0.dispense = 10 KO
""")

# 21. IN1 inside a prescription message links the patient like ADT does.
w('in1_in_prescription', RDE27.replace('V27-1', 'IN1-1').replace('PID|0001||T000500^^^^PI||処方^五郎^^^^^L^I||19600606|M',
  'PID|0001||T000500^^^^PI||処方^五郎^^^^^L^I||19600606|M\nIN1|1|06^組合管掌健康保険^JHSD0001|06139463|||||||12~01|345'), expect="""
ack = AA
coverages = 1
member = 06139463:12:345:01
medications = 1
""")
