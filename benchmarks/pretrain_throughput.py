"""Attribute-masking pretraining throughput: molpt vs a plain PyTorch Geometric baseline.

Usage:
    python benchmarks/pretrain_throughput.py [--limit 50000] [--device auto] [--batch-size 256]
        [--steps 40] [--rounds 3] [--graphs PATH] [--save-graphs PATH] [--no-write]

Both sides train GIN 5x300 with attribute masking (Hu et al.: ``int(n * 0.15 + 1)`` atoms
per molecule, Linear(300, 119), cross-entropy, Adam 1e-3) on the same MOSES molecules:

* baseline: written the way the field does it: a list of PyG ``Data`` objects, Hu's
  ``MaskAtom`` transform applied per molecule when a graph is fetched, the stock
  ``torch_geometric.loader.DataLoader`` (collate), and Hu's GIN, which concatenates
  self-loop edges and embeds two bond tables in every layer, aggregating with
  ``MessagePassing``;
* molpt: ``GraphSet`` batches cut by index arithmetic (resident on the GPU when there is
  one), the molpt ``Encoder`` (fused embeddings, direct self-loop term) and the
  ``attrmask`` objective (vectorised masking).

Timings alternate between the two sides in ``--rounds`` rounds (so machine noise hits both
alike) after warm-up steps; graphs/s = graphs trained / wall seconds.  On CUDA the script
also measures molpt at its best settings (bf16 autocast, batch 1024).

``--graphs PATH`` loads a GraphSet saved with ``GraphSet.save`` (e.g. by ``--save-graphs``
on a machine with RDKit), so the GPU machine needs neither RDKit nor the SMILES file.
Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from pathlib import Path

import _rdkit_optional  # noqa: F401  (must precede molpt imports: GPU boxes lack RDKit)
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.loader import DataLoader
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import add_self_loops

from molpt.featurize.graphs import GraphSet
from molpt.nn import Encoder
from molpt.objectives import OBJECTIVES
from molpt.train.device import autocast, cpu_has_native_bf16, cpu_name

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Each run appends a dated section (machine, versions, numbers). Never rewrite other "
    "sections.\n"
)
NUM_ATOM_TYPE, NUM_CHIRALITY = 120, 4
NUM_BOND_TYPE, NUM_BOND_DIR = 6, 3


# ---------------------------------------------------------------------------------------
# baseline: Hu et al. 2020 (pretrain-gnns/chem), unchanged in spirit
# ---------------------------------------------------------------------------------------
class HuGINConv(MessagePassing):
    def __init__(self, emb_dim: int) -> None:
        super().__init__(aggr="add")
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim, 2 * emb_dim), nn.ReLU(), nn.Linear(2 * emb_dim, emb_dim)
        )
        self.edge_embedding1 = nn.Embedding(NUM_BOND_TYPE, emb_dim)
        self.edge_embedding2 = nn.Embedding(NUM_BOND_DIR, emb_dim)
        nn.init.xavier_uniform_(self.edge_embedding1.weight.data)
        nn.init.xavier_uniform_(self.edge_embedding2.weight.data)

    def forward(self, x, edge_index, edge_attr):
        edge_index = add_self_loops(edge_index, num_nodes=x.size(0))[0]
        self_loop_attr = torch.zeros(x.size(0), 2, device=edge_attr.device, dtype=edge_attr.dtype)
        self_loop_attr[:, 0] = 4
        edge_attr = torch.cat((edge_attr, self_loop_attr), dim=0)
        edge_embeddings = self.edge_embedding1(edge_attr[:, 0]) + self.edge_embedding2(
            edge_attr[:, 1]
        )
        return self.propagate(edge_index, x=x, edge_attr=edge_embeddings)

    def message(self, x_j, edge_attr):
        return x_j + edge_attr

    def update(self, aggr_out):
        return self.mlp(aggr_out)


class HuGNN(nn.Module):
    def __init__(self, num_layer: int = 5, emb_dim: int = 300, drop_ratio: float = 0.0):
        super().__init__()
        self.num_layer, self.drop_ratio = num_layer, drop_ratio
        self.x_embedding1 = nn.Embedding(NUM_ATOM_TYPE, emb_dim)
        self.x_embedding2 = nn.Embedding(NUM_CHIRALITY, emb_dim)
        nn.init.xavier_uniform_(self.x_embedding1.weight.data)
        nn.init.xavier_uniform_(self.x_embedding2.weight.data)
        self.gnns = nn.ModuleList(HuGINConv(emb_dim) for _ in range(num_layer))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(num_layer))

    def forward(self, x, edge_index, edge_attr):
        x = self.x_embedding1(x[:, 0]) + self.x_embedding2(x[:, 1])
        h_list = [x]
        for layer in range(self.num_layer):
            h = self.gnns[layer](h_list[layer], edge_index, edge_attr)
            h = self.batch_norms[layer](h)
            if layer == self.num_layer - 1:
                h = F.dropout(h, self.drop_ratio, training=self.training)
            else:
                h = F.dropout(F.relu(h), self.drop_ratio, training=self.training)
            h_list.append(h)
        return h_list[-1]


class MaskedList(torch.utils.data.Dataset):
    """A list of ``Data`` with Hu's ``MaskAtom`` transform applied on every fetch."""

    def __init__(self, data_list, mask_rate: float = 0.15) -> None:
        self.data_list, self.mask_rate = data_list, mask_rate

    def __len__(self) -> int:
        return len(self.data_list)

    def __getitem__(self, i):
        data = self.data_list[i].clone()
        num_atoms = data.x.size()[0]
        sample_size = int(num_atoms * self.mask_rate + 1)
        masked_atom_indices = random.sample(range(num_atoms), sample_size)
        mask_node_labels_list = [data.x[atom_idx].view(1, -1) for atom_idx in masked_atom_indices]
        data.mask_node_label = torch.cat(mask_node_labels_list, dim=0)
        # "index" in the name makes PyG's collate offset it by the node count (Hu's
        # BatchMasking did this by hand)
        data.masked_atom_index = torch.tensor(masked_atom_indices)
        for atom_idx in masked_atom_indices:
            data.x[atom_idx] = torch.tensor([NUM_ATOM_TYPE - 1, 0])
        return data


def baseline_runner(graphs: GraphSet, device, batch_size: int, workers: int = 0):
    data_list = []
    for i in range(len(graphs)):
        d = graphs[i]
        del d.smiles
        data_list.append(d)
    loader = DataLoader(
        MaskedList(data_list), batch_size=batch_size, shuffle=True, num_workers=workers,
        drop_last=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = HuGNN().to(device)
    head = nn.Linear(300, NUM_ATOM_TYPE - 1).to(device)
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=1e-3)
    state = {"it": iter(loader)}

    def step() -> int:
        try:
            batch = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            batch = next(state["it"])
        batch = batch.to(device)
        node_rep = model(batch.x, batch.edge_index, batch.edge_attr)
        pred = head(node_rep[batch.masked_atom_index])
        loss = F.cross_entropy(pred, batch.mask_node_label[:, 0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return batch.num_graphs

    return step


def molpt_runner(graphs: GraphSet, device, batch_size: int, bf16: bool = False):
    torch.manual_seed(0)
    gs = graphs.to(device) if device.type == "cuda" else graphs
    enc = Encoder("basic", "gin", num_layers=5, hidden_dim=300)
    obj = OBJECTIVES.get("attrmask")(enc).to(device)
    opt = torch.optim.Adam(obj.parameters(), lr=1e-3)
    order_gen = torch.Generator().manual_seed(0)
    obj_gen = torch.Generator(device=device).manual_seed(1)

    def batches():
        while True:
            yield from gs.iter_batches(
                batch_size, shuffle=True, generator=order_gen, drop_last=True
            )

    it = batches()

    def step() -> int:
        batch = next(it)
        with autocast(device, bf16, cpu=True):
            loss, _ = obj.loss(batch, obj_gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return batch.num_graphs

    return step


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(runners: dict, device, steps: int, rounds: int, warmup: int = 3) -> dict:
    """Alternate the runners for ``rounds`` rounds of ``steps // rounds`` steps each."""
    for step in runners.values():
        for _ in range(warmup):
            step()
    _sync(device)
    graphs = dict.fromkeys(runners, 0)
    secs = dict.fromkeys(runners, 0.0)
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for name, step in runners.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(per_round):
                graphs[name] += step()
            _sync(device)
            secs[name] += time.perf_counter() - t0
    return {k: graphs[k] / secs[k] for k in runners}


def load_graphs(args) -> GraphSet:
    if args.graphs:
        graphs, _ = GraphSet.load(args.graphs)
        if args.limit and len(graphs) > args.limit:
            graphs = graphs.subset(range(args.limit))
        return graphs
    from molpt.data import load_dataset

    ds = load_dataset("moses", featurizer="basic", limit=args.limit, workers=args.workers)
    if args.save_graphs:
        ds.graphs.save(args.save_graphs, meta={"name": "moses", "limit": args.limit})
        print(f"saved {len(ds.graphs)} graphs to {args.save_graphs}", file=sys.stderr)
    return ds.graphs


def machine(device) -> str:
    parts = [
        f"platform {platform.platform()}",
        f"CPU {cpu_name()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}",
        f"torch {torch.__version__}",
    ]
    if device.type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average before the run {os.getloadavg()[0]:.1f}")
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=50_000, help="MOSES molecules (default 50000)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=0, help="timed steps per side (0: auto)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations between the sides")
    ap.add_argument("--graphs", help="a saved GraphSet (.pt) to use instead of featurizing")
    ap.add_argument("--save-graphs", help="save the featurized GraphSet here")
    ap.add_argument("--workers", type=int, default=1, help="featurization processes")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--results", default=str(RESULTS), help="markdown file to append to")
    args = ap.parse_args()

    from molpt.train.device import resolve_device

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    mach = machine(device)  # before the run: the load average says how busy the box was
    steps = args.steps or (300 if device.type == "cuda" else 30)
    graphs = load_graphs(args)
    print(f"{len(graphs)} graphs, device {device}, batch {args.batch_size}", file=sys.stderr)
    random.seed(0)
    runners = {
        "baseline (PyG Data list + DataLoader, Hu GIN)": baseline_runner(
            graphs, device, args.batch_size
        ),
        "molpt (GraphSet + Encoder + attrmask)": molpt_runner(graphs, device, args.batch_size),
    }
    cpu_bf16 = device.type == "cpu" and cpu_has_native_bf16()
    if cpu_bf16:  # molpt pretrain's default on such CPUs; timed in the same rounds
        runners["molpt, default on this CPU (bf16 autocast)"] = molpt_runner(
            graphs, device, args.batch_size, bf16=True
        )
    res = measure(runners, device, steps, args.rounds)
    names = list(res)
    ratio = res[names[1]] / res[names[0]]
    lines = [
        f"| {k} | {'bf16' if 'bf16' in k else 'fp32'} | {args.batch_size} | {v:,.0f} |"
        for k, v in res.items()
    ]
    best = res[names[2]] if cpu_bf16 else None
    if device.type == "cuda":
        best_bs = max(1024, args.batch_size)
        best = measure(
            {"molpt best": molpt_runner(graphs, device, best_bs, bf16=True)},
            device,
            steps,
            1,
        )["molpt best"]
        lines.append(f"| molpt, best settings | bf16 | {best_bs} | {best:,.0f} |")
    for line in lines:
        print(line)
    print(f"molpt / baseline at batch {args.batch_size}, both fp32: {ratio:.2f}x")
    if best is not None:
        print(f"molpt best settings / baseline: {best / res[names[0]]:.2f}x")
    if args.no_write:
        return
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    section = [
        f"\n## Pretraining throughput (attrmask, GIN 5x300), {stamp}\n",
        f"Machine: {mach}.  ",
        f"{len(graphs)} MOSES molecules, {steps} timed steps per side in {args.rounds} "
        f"alternating rounds, device {device}. Command: "
        f"`python benchmarks/pretrain_throughput.py {' '.join(sys.argv[1:])}`\n",
        "| pipeline | precision | batch | graphs/s |",
        "|---|---|---|---|",
        *lines,
        "",
        f"molpt / baseline at batch {args.batch_size}, both fp32: **{ratio:.2f}x**"
        + (f"; molpt best settings / baseline: **{best / res[names[0]]:.2f}x**" if best else ""),
        "",
    ]
    results = Path(args.results)
    if not results.exists():
        results.write_text(HEADER)
    with open(results, "a", encoding="utf-8") as fh:
        fh.write("\n".join(section))
    print(f"appended to {results}", file=sys.stderr)


if __name__ == "__main__":
    main()
