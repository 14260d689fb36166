"""The words and marks by which a model gives, hedges, denies or dismisses a relation label, as patterns.

``relation_answer`` reads an answer with these: a lead-in before the answer ("Answer:", "关系："), a "none"
word or phrase in several languages, a self-correction, a hedge, a negation or dismissal around a label, a cue
that gives a label as the answer. Kept apart from the reading so that a new way models phrase an answer is one
pattern here, and the reading order stays readable. The helpers at the end find a label in text, forgiving
case, ``_``/``-``/space and full-width forms.
"""

from __future__ import annotations

import re
import unicodedata

from llmaaa.data.scripts import NO_SPACE_SCRIPTS

# a whole answer that names no relation of the user's: SemEval-2010's catch-all "Other" and its kin, a bare "No"
# (asked for a label, a yes/no-minded model answers whether one holds), "none" in other languages; only when the
# user has no label of that name, and only as the whole answer ("Other: Work_For" is still read for its label)
_OTHER_ANSWERS = frozenset({
    "other", "others", "other relation", "neither", "no label", "none of them", "none of these", "none of the above",
    "no", "nope", "nil", "nothing", "false", "-", "—", "–", "irrelevant", "not applicable", "no relation found",
    "keine", "keine beziehung", "keine relation", "aucune", "aucune relation", "pas de relation", "ninguna",
    "ninguno", "sin relación", "nessuna", "nessuna relazione", "nenhuma", "sem relação", "нет", "нет связи",
    "нет отношения", "없음", "관계 없음", "관계없음", "không có", "không có quan hệ",
    "其他", "其它", "その他", "無し", "関係ない", "以上都不是", "都不是", "不存在关系", "不存在關係", "不相关", "不相關"})
# a Chinese or Japanese model's "none": the words alone ("无", "なし"), and phrases found inside a sentence with no
# spaces around them ("二者无关", "無関係です"), where \b never holds
_CJK_NONE = "无|無|没有|沒有|なし"
_CJK_NONE_PHRASES = ("无关系|無關係|無関係|関係なし|没有关系|沒有關係|无关|無關|無関|不存在|不相关|不相關|都不是|"
                     "没有明确的关系|無し|関係ない|关系不明")
# "none" words that can open an answer: "None.", "N/A - ...", "No relation (Work_For is not stated)"
_NONE_HEAD = re.compile(r"(?:none(?:\s+of\s+(?:the|these|them)\b[^\n.;:!?]*)?|n/a|null|nil|no[\s_-]?relation(?:ship)?s?"
                        r"(?:\s+(?:holds?|exists?|found|here|between\b[^\n.;:!?]*))?|unrelated|not\s+related|"
                        + _CJK_NONE_PHRASES + "|" + _CJK_NONE + r")", re.I)
_NO_RELATION_WORDS = re.compile(
    r"\b(none|n/a|null|no[\s_-]?(?:(?:direct|explicit|clear|obvious|apparent|such|known|stated|meaningful)\s+)?"
    r"relation(ship)?s?|unrelated|not related|" + _CJK_NONE + r")\b|" + _CJK_NONE_PHRASES
    + r"|\b(?:does\s+not|doesn't|do\s+not|don't)\s+(?:express|state|mention|indicate|show|imply|describe|have|hold)\s+"
      r"(?:any|a)\s+(?:\w+\s+)?relation"
      r"|\b(?:pas\s+de\s+relation|aucune\s+relation|no\s+hay\s+(?:ninguna\s+)?relaci[oó]n|sin\s+relaci[oó]n|"
      r"keine\s+(?:beziehung|relation)|nessuna\s+relazione|nenhuma\s+rela[cç][aã]o|нет\s+(?:связи|отношения)|"
      r"không\s+có\s+quan\s+hệ)|관계\s*없음", re.I)
# the lead-in before an answer: "Answer:", "**Final answer:**", "The relation is", "Label =", "关系："
_LEAD_IN = re.compile(r"^[\W_]*(?:(?:the\s+)?(?:final\s+|correct\s+|predicted\s+)?(?:relation(?:ship)?(?:\s+type)?|answer|"
                      r"label|output|prediction)(?:\s+(?:is|would\s+be)|\s*=)?\s*[:：]?|答案\s*[:：是]?|关系\s*[:：是]|"
                      r"關係\s*[:：是])[\s*\"'`]*", re.I)
_FINAL = re.compile(r"^[\W_]*(?:the\s+)?final\b", re.I)
# what ends the opening answer: a full stop, a clause mark, a bracket, a dash between spaces, a line end
_HEAD_END = re.compile(r"[^\S\n]*(?:$|\n|[.。;；,，!！(（:：]|[^\S\n]+[-–—][^\S\n]|[-–—]{1,2}[^\S\n])")
# a self-correction after the answer: what follows it, if it names one label, is the answer
_REVISION = re.compile(
    r"(?:^|[.!?;:,\n(]|\bbut\s+(?:it'?s\s+|it\s+is\s+)?|\bno\s*,?\s*|\bhmm\s*,?\s*)[^\S\n]*(?:actually|wait|on second "
    r"thought|correction|i mean|i meant|sorry|scratch that|let me (?:reconsider|correct (?:that|myself))|no\s*,?\s*"
    r"(?:it'?s|it\s+is)|hmm\s*,?\s*no)\b", re.I)
# another label offered beside the opening one: "Work_For, or maybe Live_In", "Live_In is also possible"
_HEDGE = re.compile(r"\b(?:or|maybe|perhaps|possibly|probably|could|might|alternatively|also\s+(?:possible|plausible|"
                    r"fits?|applies|be\s+argued)|either)\b", re.I)
# words between a negation and the label it negates: "no Work_For", "can't be Work_For", "I don't think it's Live_In"
# (on the label's own line: "Work_For: No\nLive_In" does not negate Live_In)
_NEGATED = re.compile(
    r"(\bno|\bnot|n't|\bnor|\bneither|\bcannot|\bnever|\bunlikely)[^\S\n]+"
    r"((a|an|the|any|have|has|hold|holds|express|expresses|be|see|to|of|a\s+case\s+of)[^\S\n]+"
    r"|(think|believe|say)[^\S\n]+(that[^\S\n]+)?(it's|it[^\S\n]+is|this[^\S\n]+is)[^\S\n]+)*$"
    r"|(?:不是|并非|並非|不|(?<![\u3400-\u9fff])非|没有|沒有|無|无)(?:是)?$", re.I)
# the label given as the alternative not taken: "Work_For rather than Live_In", "Live_In instead of Work_For"
_ALTERNATIVE = re.compile(r"(?:(?<!other )\bthan|\binstead\s+of|\brather\s+than|\bover|\bnot)[^\S\n]+$", re.I)
# what follows a label to deny it: "Work_For: No", "Live_In? no", "Work_For - false", "Kill: ✗"
_DENIED_AFTER = re.compile(
    r"[*\"'`]*[^\S\n]*[:：?=(（—–-]?[^\S\n]*[*\"'`]*(?:no|n|0|false|none|n/a|incorrect|wrong|unsupported|"
    r"not[^\S\n]+(?:supported|mentioned|stated|correct|applicable|expressed|present)|否|✗|❌|×)"
    r"(?=[^\S\n]*(?:$|[.,;!)）*\n]))", re.I | re.M)  # "Work_For: No", "Live_In? no.", "Work_For (no)" (not "No doubt")
# what follows a label to dismiss it: "Work_For does not hold", "Work_For would need a job", "Work_For is wrong"
_DISMISSED_AFTER = re.compile(
    r"[*\"'`]*[^\S\n]*(?:relation(?:ship)?[^\S\n]+)?(?:(?:is|are|seems|was)[^\S\n]+(?:not|incorrect|wrong|irrelevant|"
    r"unlikely|ruled[^\S\n]+out|excluded|inapplicable|out)\b|isn't|aren't|wasn't|does[^\S\n]+not|doesn't|do[^\S\n]+not|"
    r"don't|cannot|can't|would[^\S\n]+(?:require|need|mean|imply|only|have[^\S\n]+to|be[^\S\n]+(?:wrong|incorrect|"
    r"inappropriate))\b|requires?\b|needs?\b|[:?][^\S\n]*(?:not[^\S\n]+applicable|unlikely)\b)"
    r"|(?:关系|關係)?(?:不成立|不存在|不适用|不適用|不对|不對|错误|錯誤)", re.I)
# phrases that give the label as the answer in prose: "the correct relation is Live_In", "so Work_For"
_STRONG_CUE = re.compile(r"(?:(?:relation(?:ship)?(?:\s+type)?|answer|label)\s*(?:is|would\s+be|=|->|[:：])|"
                         r"\b(?:so|therefore|thus|hence)(?:\s+it\s+is|\s+it's)?)\s*[*\"'`]*$", re.I)
_COLON_CUE = re.compile(r"[:：]\s*[*\"'`]*$")
_EXCEPT = re.compile(r"\b(?:except|but|apart from|besides|other than)\b", re.I)


def _label_body(label: str) -> str:
    return r"[\s_-]?".join(map(re.escape, re.split(r"[\s_-]+", _nfkc(label))))


def _label_pattern(label: str) -> str:
    body = _label_body(label)
    return body if NO_SPACE_SCRIPTS.match(label[:1] or " ") else body + r"(?![\w])"


def _cued(text: str, label: str, cue: re.Pattern) -> bool:
    """Whether ``label`` appears right after a phrase that gives it as the answer ("the relation is ...")."""
    return any(cue.search(text[: m.start()]) for m in re.finditer(_label_body(label), text, re.I))


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def _writes_label(text: str, label: str) -> bool:
    """Whether ``text`` writes ``label`` as the label itself ("Located_In"), not only as prose ("located in").

    A one-word label is told by its own case ("Kill", not "kill"); one whose form is prose's ("employer", "place of
    birth") always counts, so that "Kill or Live_In" names two labels, not Live_In and a verb.
    """
    label = _nfkc(label)
    if re.search(r"[\s_-]", label):
        return re.search(r"(?<![\w])" + re.escape(label) + r"(?![\w])", text, re.I) is not None
    return any(m.group() in (label, label.upper())
               for m in re.finditer(r"(?<![\w])" + re.escape(label) + r"(?![\w])", text, re.I))
