"""Relation answers as real models write them (each case found by an adversarial review of the RE parser).

Before, a colon in the explanation ("Reason: Work_For ...") made the label after it the answer, "None" that
did not open the answer lost to a label named in its explanation, "no relation" in a sentence was re-asked,
a dismissed label ("Work_For does not hold") was the answer, and JSON keys such as ``final_answer`` were not
read. A wrong label costs more than a re-ask; a re-ask costs more than a correct read.
"""

import pytest

from llmaaa.annotate.answer_errors import AnswerError
from llmaaa.annotate.parsing import parse_re_answer

C4 = ("Work_For", "Kill", "OrgBased_In", "Live_In", "Located_In")
T = ("Founder", "Employee_Of", "CEO", "Spouse")
P = ("place of birth", "employer", "spouse")
Z = ("位于", "任职于", "出生于")
R = "re-asked"

CASES = [
 # 1 bare colon
 ("Live_In. Reason: Work_For requires an organization.", C4, "Live_In"),
 ("Live_In. Explanation: Work_For is wrong here.", C4, "Live_In"),
 ("Live_In (note: Work_For needs an organization)", C4, "Live_In"),
 ("Live_In. Ruled out: Work_For.", C4, "Live_In"),
 ("Live_In, Anna lives in Boston. Excluded: Work_For", C4, "Live_In"),
 ("Live_In; alternatives considered: Work_For, Located_In.", C4, "Live_In"),
 ("Live_In (confidence: high). Other candidates: Work_For (low).", C4, "Live_In"),
 ("Live_In - Anna lives in Boston. Not to be confused with: Located_In.", C4, "Live_In"),
 # 2
 ("Kill. Work_For would require employment.", C4, "Kill"),
 ("Kill. Live_In is irrelevant here.", C4, "Kill"),
 ("Kill (Bob killed Anna; Live_In does not apply).", C4, "Kill"),
 ("Kill, since Bob shot her, whereas Work_For is about jobs.", C4, "Kill"),
 ("Founder. Employee_Of would mean she works there.", T, "Founder"),
 ("CEO. She is not just an Employee_Of the firm.", T, "CEO"),
 ("Spouse. There is no relation of Employee_Of.", T, "Spouse"),
 ("employer. Her place of birth is not mentioned.", P, "employer"),
 ("Work_For? Actually no relation.", C4, "no_relation"),
 # 3
 ("Answer: None (Work_For is not stated).", C4, "no_relation"),
 ("**Answer: None**\n\nWork_For is not stated in the text.", C4, "no_relation"),
 ("Relation: None\nReason: Work_For requires employment.", C4, "no_relation"),
 ("The answer is None. Work_For is not supported.", C4, "no_relation"),
 ("The relation is none. Work_For is not supported.", C4, "no_relation"),
 ("Label: None. Live_In needs a location.", C4, "no_relation"),
 ("The answer is: None. Live_In needs a location.", C4, "no_relation"),
 ("Answer: no relation. Reason: Work_For requires employment.", C4, "no_relation"),
 ("None of the above. Work_For requires employment.", C4, "no_relation"),
 ("None of the listed relations hold. Work_For is not expressed.", C4, "no_relation"),
 ("None of the relations apply; Work_For would need a job.", C4, "no_relation"),
 ("No. Work_For is not stated.", C4, "no_relation"),
 ("There is no relation; Work_For would require employment.", C4, "no_relation"),
 ("Since Anna only visited Acme, no relation holds. Work_For would be wrong.", C4, "no_relation"),
 ("The head is not the employee, so no relation (Work_For does not hold).", C4, "no_relation"),
 ("I don't see a Work_For relationship. No relation.", C4, "no_relation"),
 ("Live_In needs a location, so no relation.", C4, "no_relation"),
 ("Live_In needs a location, so: no relation.", C4, "no_relation"),
 ("Since Live_In needs a location, the answer is none.", C4, "no_relation"),
 ("Reasoning: Work_For fits best.\nAnswer: None", C4, "no_relation"),
 # 4
 ("Work_For is incorrect.", C4, R), ("Work_For does not hold.", C4, R), ("Work_For: not applicable", C4, R),
 ("Work_For? Unlikely.", C4, R), ("The relation cannot be Work_For.", C4, R), ("It can't be Work_For.", C4, R),
 ("I don't think it's Work_For.", C4, R), ("It is unlikely to be Work_For.", C4, R),
 ("Work_For is not the relation; the head does not work for the tail.", C4, R),
 ("位于关系不成立。", Z, R),
 # 5
 ("There is no Work_For or Live_In relation.", C4, R), ("There is no Work_For, Live_In or Kill relation here.", C4, R),
 ("It's not Work_For or Live_In.", C4, R),
 # 6
 ('{"reasoning": "It might look like Work_For, but Anna lives in Boston.", "final_answer": "Live_In"}', C4, "Live_In"),
 ('{"analysis": "Work_For does not fit; she resides there.", "conclusion": "Live_In"}', C4, "Live_In"),
 ('{"explanation": "Work_For is ruled out.", "relation_label": "Live_In"}', C4, "Live_In"),
 ('{"thought": "It could be Work_For", "final": "Live_In"}', C4, "Live_In"),
 ('{"step_by_step": "Could be Work_For. Actually no.", "output": "no_relation"}', C4, "no_relation"),
 ('{"rationale": "Work_For is not stated", "result": "none"}', C4, "no_relation"),
 ('{"entity1": "Kill Bill", "entity2": "Acme", "relationship": "Work_For"}', C4, "Work_For"),
 ('{"Work_For": "no", "Live_In": "yes"}', C4, "Live_In"),
 ('{"Work_For": true, "Live_In": false}', C4, "Work_For"),
 ('{"relations": []}', C4, "no_relation"), ('{"relation": false}', C4, "no_relation"), ('{"has_relation": false}', C4, "no_relation"),
 # 7
 ("Work_For\n\nActually, on second thought: Live_In", C4, "Live_In"),
 ("Live_In\n\nWait, no. Anna works for Acme, so it's Work_For.", C4, "Work_For"),
 # 8
 ("Work_For (from tail to head)", C4, R), ("Work_For (tail -> head)", C4, R), ("Work_For(tail, head)", C4, R),
 ("Work_For. The reverse is not true.", C4, "Work_For"),
 ("Work_For. Note that the reverse direction would be no_relation.", C4, "Work_For"),
 ("Live_In. In the opposite direction there would be no relation.", C4, "Live_In"),
 # 9
 ("There is no relation between Anna and Acme.", C4, "no_relation"), ("There is no relation between the two entities.", C4, "no_relation"),
 ("I believe there is no relation here at all.", C4, "no_relation"),
 ("Based on the text, no relation holds from the head to the tail.", C4, "no_relation"),
 # 10
 ("Work_For rather than Live_In", C4, "Work_For"), ("Live_In instead of Work_For", C4, "Live_In"),
 ("Live_In is a better fit than Work_For.", C4, "Live_In"),
 ("Initially I thought Work_For, but it's actually Live_In.", C4, "Live_In"),
 ("Work_For. Wait, actually it should be Live_In.", C4, "Live_In"), ("Work_For is not correct. Live_In.", C4, "Live_In"),
 ("Reasoning: Work_For would need a job.\nAnswer: no_relation", C4, "no_relation"),
 # 12
 ("Work_For\n\nText: Bob killed Anna.\nHead: Bob (Peop)\nTail: Anna (Peop)\nKill", C4, "Work_For"),
 # 13
 ("nil", C4, "no_relation"), ("Nothing", C4, "no_relation"), ("Nope.", C4, "no_relation"), ("Keine (Beziehung)", C4, "no_relation"),
 ("Il n'y a pas de relation.", C4, "no_relation"), ("Sin relación", C4, "no_relation"), ("Нет (связи)", C4, "no_relation"),
 ("관계 없음", C4, "no_relation"), ("两者之间不存在任何关系。", Z, "no_relation"), ("以上都不是", Z, "no_relation"),
 ("The text does not express any relation between Anna and Acme.", C4, "no_relation"),
 # 16, 17, 18
 ("Located. Boston is located in Massachusetts.", ("Located", "Located_In", "Work_For"), "Located"),
 ("南非位于非洲。", Z, "位于"),
 ('{"head": "Anna", "tail": "Acme", "relationship": "Work_For"}', C4, "Work_For"),
 # regressions to watch
 ("Work_For\nNone of the other labels fit.", C4, "Work_For"),
 ("Work_For, Live_In", C4, R), ("Work_For / Live_In", C4, R), ("Work_For; Live_In", C4, R),
 ("Work_For. He also lives in Boston (Live_In).", C4, "Work_For"),
]

def test_degenerate_long_answers_are_read_or_re_asked():
    """A server that ignores max_tokens sent 20,000 characters; the scans took 7-17 s on such answers (a
    regression shows as a slow test)."""
    assert parse_re_answer("Work_For" + " " * 20000, C4) == "Work_For"
    for answer, labels in (("Work_For " * 3000, C4), (" ".join(C4) * 800, C4), ("位于" * 5000, Z)):
        with pytest.raises(AnswerError):
            parse_re_answer(answer, labels)


# found by a review of the rewrite: checklists, corrections and hedges, "none other than", long reasoning, JSON
# whose first relation key holds prose, a restated input before the answer
LONG = "Let me reason. At first sight the relation seems to be Work_For.\n" + ("Anna is in Boston. " * 240) + "\nFinal answer: Live_In"
SECOND_REVIEW = [
 ("Work_For: incorrect\nLive_In: correct", C4, "Live_In"),
 ("- Work_For: not supported\n- Live_In: supported", C4, "Live_In"),
 ("Work_For: not mentioned\nLive_In: mentioned", C4, "Live_In"),
 ("Work_For: wrong\nLive_In: right", C4, "Live_In"),
 ("Work_For: 0\nLive_In: 1", C4, "Live_In"),
 ("Work_For: N\nLive_In: Y", C4, "Live_In"),
 ("Work_For — no\nLive_In — yes", C4, "Live_In"),
 ("Work_For (no)\nLive_In (yes)", C4, "Live_In"),
 ("**Work_For**: not supported.\n**Live_In**: supported.", C4, "Live_In"),
 ("出生地：否\n国籍：是", ("出生地", "国籍"), "国籍"),
 ("Work_For would apply here; none of the other labels fit.", C4, "Work_For"),
 ("Since Anna works at IBM, Work_For would fit. The other labels are N/A.", C4, "Work_For"),
 ("Anna is an engineer at IBM, so Work_For would be the relation (none of the others apply).", C4, "Work_For"),
 ("Employer would be correct here; Residence is about where she lives.", ("Employer", "Residence", "Founder"), R),
 ("Work_For would be correct.", C4, "Work_For"), ("Work_For would fit best.", C4, "Work_For"),
 ("It is none other than Work_For.", C4, "Work_For"), ("None other than Work_For.", C4, "Work_For"),
 ("No relation other than Work_For fits.", C4, "Work_For"),
 (LONG, C4, "Live_In"),
 ("Work_For - the sentence actually says she is employed there; it does not say she lives in Boston (Live_In).", C4, "Work_For"),
 ("Work_For. Anna actually works at IBM's Boston office, which is Located_In Boston.", C4, "Work_For"),
 ("Work_For. Note that IBM is actually OrgBased_In Armonk, but that is a different pair.", C4, "Work_For"),
 ("Work_For. Actually, Live_In could also be argued.", C4, R),
 ("Work_For. No, it's Live_In.", C4, "Live_In"),
 ("Work_For... hmm, no: Live_In.", C4, "Live_In"),
 ("Work_For. Let me correct that: Live_In.", C4, "Live_In"),
 ("Work_For. Sorry, I meant Live_In.", C4, "Live_In"),
 ("Work_For, or maybe Live_In.", C4, R), ("Work_For (or possibly Live_In)", C4, R),
 ("Work_For. Live_In is also possible.", C4, R), ("Work_For, although Live_In could also fit.", C4, R),
 ("Is it Live_In? No it's Work_For.", C4, "Work_For"), ("No it's Work_For", C4, "Work_For"),
 ('{"head":"Anna","tail":"IBM","relationship":"works at","label":"Work_For"}', C4, "Work_For"),
 ('{"relationship":"Anna is employed by IBM","label":"Work_For"}', C4, "Work_For"),
 ('{"label":"Work_For","answer":"yes"}', C4, "Work_For"),
 ('{"type":"Work_For","answer":"Anna works for IBM"}', C4, "Work_For"),
 ("Let's analyze.\nText: Anna works for IBM in Boston.\nHead: Anna\nTail: IBM\nAnswer: Work_For", C4, "Work_For"),
 ("Analysis:\nText: Anna lives in Boston.\nSo the relation is Live_In.", C4, "Live_In"),
 ("Candidate: Work_For\nText: Anna lives in Boston.\nFinal answer: Live_In", C4, "Live_In"),
 ("Work_For\n\nNote: no relation holds in the other direction.", C4, "Work_For"),
 ("Work_For\n\nThe reverse relation (IBM -> Anna) is no_relation.", C4, "Work_For"),
 ("Relation: not Work_For, Live_In", C4, R),
]



# a prefixed label (TACRED's "per:employee_of", NYT's "/people/person/place_lived") answered without its prefix:
# its last part, when no other label ends the same way ("alternate_names" is per: or org:, so asked again)
TAC = ("per:employee_of", "org:founded_by", "per:city_of_birth", "org:alternate_names", "per:alternate_names", "per:title")
NYT = ("/people/person/place_lived", "/business/person/company", "/location/location/contains")
SPORTS = ("/sports/sports_team/location", "/sports/sports_team_location/teams")
PREFIXED = [
 ("employee_of", TAC, "per:employee_of"), ("Employee Of", TAC, "per:employee_of"),
 ("employee_of. Anna works at IBM.", TAC, "per:employee_of"), ("Answer: city_of_birth", TAC, "per:city_of_birth"),
 ('{"relation": "founded_by"}', TAC, "org:founded_by"), ("PER:EMPLOYEE OF", TAC, "per:employee_of"),
 ("alternate_names", TAC, R), ("no_relation", TAC, "no_relation"),
 ("The title of the article is long. Answer: no_relation", TAC, "no_relation"),
 ("place_lived", NYT, "/people/person/place_lived"), ("Company. Anna works there.", NYT, "/business/person/company"),
 # every part after a ":" or "/", not only the last: Re-TACRED's "org:top_members/employees" answered as
 # "top_members/employees" was asked again and the pair failed
 ("top_members/employees", (*TAC, "org:top_members/employees"), "org:top_members/employees"),
 ('{"relation": "Top Members / Employees"}', (*TAC, "org:top_members/employees"), "org:top_members/employees"),
 ("employees", (*TAC, "org:top_members/employees"), "org:top_members/employees"),
 ("person/place_lived", NYT, "/people/person/place_lived"),
 ("person/company", NYT, "/business/person/company"),
 # ...but not a part that another label holds whole: which of the two was meant is not said
 ("sports_team_location", SPORTS, R), ('{"relation": "sports team location"}', SPORTS, R),
 ("teams", SPORTS, "/sports/sports_team_location/teams"),
]


def read(answer, labels, mentions=()):
    """The label read, or ``R`` when the answer is asked again."""
    try:
        return parse_re_answer(answer, labels, mentions)
    except AnswerError:
        return R


@pytest.mark.parametrize("answer,labels,expected", PREFIXED)
def test_a_prefixed_label_answered_without_its_prefix(answer, labels, expected):
    assert read(answer, labels) == expected


# the head's and tail's names given: a name that holds a label's words is the entity, not the label
WITH_MENTIONS = [
 ("Kill Devil Hills", ("Anna", "Kill Devil Hills"), R),
 ("Kill Devil Hills.", ("Anna", "Kill Devil Hills"), R),
 ("Anna lives in Kill Devil Hills.", ("Anna", "Kill Devil Hills"), R),
 ("Anna lives in Kill Devil Hills, so Live_In.", ("Anna", "Kill Devil Hills"), "Live_In"),
 ("Live_In: Anna lives in kill devil hills", ("Anna", "Kill Devil Hills"), "Live_In"),
 ("Kill", ("Bob", "Kill Devil Hills"), "Kill"),
 ("Kill. Bob shot the mayor of Kill Devil Hills.", ("Bob", "Kill Devil Hills"), "Kill"),
 ("Work_For. She is at Live In Style Ltd.", ("Anna", "Live In Style Ltd"), "Work_For"),
 ("Live In Style Ltd", ("Anna", "Live In Style Ltd"), R),
 ("Kill", ("Kill", "Bob"), "Kill"),  # an entity named as the label itself: the answer is still the label
 ("None. Killington is a town.", ("Anna", "Killington"), "no_relation"),
 # the name as a model writes it back: one space for the text's line break, without the span's quotes or stop,
 # or only the first words of a longer name (found by a review)
 ("Anna lives in Kill Devil Hills", ("Anna", "Kill Devil\nHills"), R),
 ("Anna lives in Kill Devil Hills", ("Anna", "Kill\tDevil  Hills"), R),
 ("Anna lives in Kill Devil Hills, NC", ("Anna", "Kill Devil Hills."), R),
 ("Anna works at “Live In Style”", ("Anna", '"Live In Style"'), R),
 ("Anna lives in Kill Devil Hills", ("Anna", "Kill Devil Hills, North Carolina"), R),
 ("Kill. Bob Kill shot him.", ("Bob Kill", "Tom"), "Kill"),
]


@pytest.mark.parametrize("answer,mentions,expected", WITH_MENTIONS)
def test_an_entity_name_that_holds_a_label_is_read_as_the_entity(answer, mentions, expected):
    assert read(answer, C4, mentions) == expected


def test_a_chinese_entity_that_holds_a_label_is_read_as_the_entity():
    assert parse_re_answer("位于", Z, ("位于路公司", "北京")) == "位于"
    with pytest.raises(AnswerError):
        parse_re_answer("王芳在位于路公司。", Z, ("王芳", "位于路公司"))
    assert parse_re_answer("王芳在位于路公司：任职于", Z, ("王芳", "位于路公司")) == "任职于"


@pytest.mark.parametrize("answer,labels,expected", CASES + SECOND_REVIEW)
def test_relation_answers_as_models_write_them(answer, labels, expected):
    assert read(answer, labels) == expected


# each ordered pair is asked on its own: a triple that names the pair tail first says the label holds the other
# way round, which for this pair is no relation. Before, it read as the label, so "(Anna, Work_For, IBM)" gave IBM
# Work_For Anna as well (found by a review). A slot naming someone else is read as usual: models name entities by
# aliases and short forms, and a first version that re-asked these failed whole examples
ASKED = ("IBM", "Anna")  # head, tail
TRIPLES = [
 ("(Anna, Work_For, IBM)", "no_relation"), ("Work_For(Anna, IBM)", "no_relation"),
 ('{"head": "Anna", "relation": "Work_For", "tail": "IBM"}', "no_relation"), ("Anna -> Work_For -> IBM", "no_relation"),
 ("Anna Work_For IBM", "no_relation"), ('["Anna", "Work_For", "IBM"]', "no_relation"),
 ("Answer: Work_For(anna, ibm).", "no_relation"), ("**Anna → Work_For → IBM**", "no_relation"),
 ('{"subject": "Anna (Peop)", "predicate": "Work_For", "object": "IBM"}', "no_relation"),
 # in the order asked, or where order says nothing of direction, the label as before
 ("(IBM, Work_For, Anna)", "Work_For"), ("Work_For(IBM, Anna)", "Work_For"),
 ('{"head": "IBM", "relation": "Work_For", "tail": "Anna"}', "Work_For"), ("IBM -> Work_For -> Anna", "Work_For"),
 ("IBM Work_For Anna", "Work_For"), ("Anna works for IBM, so Work_For", "Work_For"),
 ("IBM employs Anna, so Work_For", "Work_For"), ("Work_For(e1, e2)", "Work_For"), ("(He, Work_For, IBM)", "Work_For"),
 # an alias or another name in a slot: the label, as before
 ("Big Blue Work_For IBM", "Work_For"), ('{"head": "International Business Machines", "relation": "Work_For", '
 '"tail": "Ms. Smith"}', "Work_For"), ("(IBM, Work_For, Anna Smith)", "Work_For"),
 ("So Work_For Anna", "Work_For"), ("(Bob, Work_For, Carl)", "Work_For"),
]


@pytest.mark.parametrize("answer,expected", TRIPLES)
def test_a_triple_is_read_for_the_pair_asked(answer, expected):
    assert read(answer, C4, ASKED) == expected


def test_a_triple_of_a_pair_that_shares_its_name_keeps_its_label():
    """"Paris" to "Paris": no order to read, so the label stands."""
    for answer in ("(Paris, Located_In, Paris)", "Located_In(Paris, Paris)"):
        assert read(answer, C4, ("Paris", "Paris")) == "Located_In"


def test_a_triple_names_the_pair_by_a_name_that_holds_a_label():
    assert read("Kill Devil Hills Live_In Anna", C4, ("Anna", "Kill Devil Hills")) == "no_relation"
    assert read("Live_In(Anna, kill devil hills)", C4, ("Anna", "Kill Devil Hills")) == "Live_In"


# two labels offered, one of them one word: before, the one written with a separator won over "Kill" as if Kill
# were prose, so "Kill or Live_In" was Live_In (found by a review)
@pytest.mark.parametrize("answer", ["Kill or Live_In", "Either Kill or Work_For.", "Kill, Located_In", "Live_In, Kill",
                                    "Kill and Located_In", "KILL or Live_In"])
def test_two_labels_offered_where_one_is_one_word_are_re_asked(answer):
    assert read(answer, C4) == R


@pytest.mark.parametrize("answer,expected", [
 ("Kill", "Kill"), ("Kill. Bob shot Anna.", "Kill"), ("Not Kill but Live_In", "Live_In"),
 ("It is not Kill; Anna lives in Boston, so Live_In.", "Live_In"), ("Live_In rather than Kill", "Live_In"),
 ("Work_For. Bob would kill for a job like hers.", "Work_For"),
])
def test_a_one_word_label_beside_another_still_reads_one(answer, expected):
    assert read(answer, C4) == expected
