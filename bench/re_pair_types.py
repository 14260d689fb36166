"""What ``LLM_RE_PAIRS=seen`` saves and risks: RE requests skipped vs gold relations never asked.

For gold pools of N CoNLL04 dev sentences (``sample_demo_pool``, seeds 0..S-1) the (head type, tail
type) pairs of their relations are the "seen" set; every ordered entity pair of the CoNLL04 test
sentences (>= 2 entities) whose types are not in it would not be sent to the LLM. Counts only: no
LLM, no model. Pools with fewer than ``SEEN_PAIRS_MIN_RELATIONS`` relations are the teacher's
"ask every pair" case and are reported as such.

    .venv/bin/python bench/re_pair_types.py [--pools 10,20,50,100] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.annotate.teacher import SEEN_PAIRS_MIN_RELATIONS  # noqa: E402
from llmaaa.data.readers import read_dataset  # noqa: E402
from llmaaa.loop.evaluate import sample_demo_pool  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", default="10,20,50,100", help="gold pool sizes (dev sentences)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--data-dir", help="folder holding conll04/")
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "re_pair_types.json"))
    args = ap.parse_args()
    dev = read_dataset("conll04", "dev", args.data_dir)
    test = [ex for ex in read_dataset("conll04", "test", args.data_dir) if len(ex.entities) >= 2]
    pairs = [(ex.entities[h].label, ex.entities[t].label, any((r.head, r.tail) == (h, t) for r in ex.relations))
             for ex in test for h in range(len(ex.entities)) for t in range(len(ex.entities)) if h != t]
    n_rel = sum(rel for *_, rel in pairs)
    rows = []
    for size in [int(x) for x in args.pools.split(",") if x]:
        for seed in range(args.seeds):
            pool = sample_demo_pool(dev, size, task="re", seed=seed)
            gold = [(ex.entities[r.head].label, ex.entities[r.tail].label) for ex in pool for r in ex.relations]
            active = len(gold) >= SEEN_PAIRS_MIN_RELATIONS
            seen = set(gold)
            skipped = sum(1 for h, t, _ in pairs if active and (h, t) not in seen)
            lost = sum(1 for h, t, rel in pairs if active and rel and (h, t) not in seen)
            rows.append({"pool": size, "seed": seed, "gold_relations": len(gold), "type_pairs_seen": len(seen),
                         "filter_active": active, "pairs": len(pairs), "skipped": skipped,
                         "test_relations": n_rel, "relations_not_asked": lost})
    print(f"CoNLL04 test: {len(test)} sentences, {len(pairs)} ordered entity pairs, {n_rel} gold relations\n")
    print("| gold pool | seed | gold relations | type pairs seen | requests skipped | gold relations never asked |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        skip = f"{r['skipped']} ({r['skipped'] / r['pairs']:.1%})" if r["filter_active"] else "0 (fewer than " \
            f"{SEEN_PAIRS_MIN_RELATIONS} relations: every pair asked)"
        print(f"| {r['pool']} | {r['seed']} | {r['gold_relations']} | {r['type_pairs_seen']} | {skip} "
              f"| {r['relations_not_asked']} ({r['relations_not_asked'] / n_rel:.1%}) |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"rows": rows, "min_relations": SEEN_PAIRS_MIN_RELATIONS}, indent=1))
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
