#!/usr/bin/python3
"""Firing statistics of engram against Brian2 on the Vogels-Abbott benchmarks.

Runs engram on experiments/<network>.yaml for a set of seeds, computes the mean firing
rate and the CV of the inter-spike intervals from the HDF5 spike files, runs the Brian2
cpp_standalone peer (../shared/peers/brian2_<network>.py) for the same seeds, and prints
per simulator mean +- sd over seeds and the relative difference of the means, with
PASS/FAIL against a tolerance (default 3 %).

Statistics (the peers' definitions, over all 4000 neurons of both populations together):
  rate   = total spikes / (number of neurons * simulated time)
  cv_isi = mean over neurons with >= 2 spikes of std(ISI) / mean(ISI), std with ddof = 0

Run with Debian's interpreter (numpy, h5py, python3-brian):
  /usr/bin/python3 bench/compare_stats.py [--networks coba cuba] [--seeds 1-10]
      [--duration 10] [--engram PATH] [--skip-brian] [--precision float|double]

Brian2 results are cached as bench/out/brian/<network>_<duration>s_seed<k>.json; with
--skip-brian Brian2 is not run and the cached results (where present) are used.
The tables are also written as markdown to bench/out/stats_<network>.md, and the
per-seed figures to bench/out/stats_<network>.json (stats_<network>_double.* with
--precision double, which runs engram with simulation.precision: double).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_seeds(text):
    """'10' -> 1..10, '3-7' -> 3..7, '1,4,9' -> [1, 4, 9]."""
    text = text.strip()
    if text.isdigit():
        return list(range(1, int(text) + 1))
    seeds = []
    for part in text.split(','):
        a, _, b = part.strip().partition('-')
        seeds.extend(range(int(a), int(b) + 1) if b else [int(a)])
    return seeds


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n', 2)[2])
    p.add_argument('--networks', nargs='+', default=['coba', 'cuba'],
                   help='experiments/<name>.yaml; coba, cuba, or coba_euler (COBA with forward Euler, '
                        "as Brian's script integrates it; compared with the COBA peer)")
    p.add_argument('--seeds', default='1-10',
                   help="N (= 1..N), a range 'A-B' or a list 'A,B,C' (default 1-10)")
    p.add_argument('--duration', type=float, default=10.0, help='biological time in seconds')
    p.add_argument('--engram', default=os.environ.get('ENGRAM', 'build/bin/engram'),
                   help='engram binary (default $ENGRAM or build/bin/engram, relative to the repo root)')
    p.add_argument('--threads', type=int, default=1, help='engram worker threads')
    p.add_argument('--precision', choices=['float', 'double'], default='float',
                   help='engram simulation.precision (default float)')
    p.add_argument('--skip-brian', action='store_true',
                   help='do not run Brian2; use the cached results in OUT/brian/ where present')
    p.add_argument('--tolerance', type=float, default=0.03, help='relative tolerance (default 0.03)')
    p.add_argument('--out', default=os.path.join(HERE, 'out'), help='results dir (default bench/out)')
    p.add_argument('--peers', default=os.path.join(ROOT, '..', 'shared', 'peers'),
                   help='dir of the Brian2 peer scripts')
    a = p.parse_args()
    a.seeds = parse_seeds(a.seeds)
    if not os.path.isabs(a.engram):
        a.engram = os.path.join(ROOT, a.engram)
    return a


def network_stats(ids, times_ms, n_neurons, duration_s):
    """Mean rate (Hz) and mean CV of ISI over neurons with >= 2 spikes."""
    ids = np.asarray(ids, dtype=np.int64)
    t = np.asarray(times_ms, dtype=np.float64)
    rate = ids.size / (n_neurons * duration_s)
    order = np.lexsort((t, ids))          # by neuron, then by time
    ids, t = ids[order], t[order]
    counts = np.bincount(ids, minlength=n_neurons)
    isi = np.diff(t)
    same = ids[1:] == ids[:-1]            # consecutive spikes of the same neuron
    owner = ids[1:][same]
    isi = isi[same]
    n_isi = np.bincount(owner, minlength=n_neurons).astype(np.float64)
    s1 = np.bincount(owner, weights=isi, minlength=n_neurons)
    mask = counts >= 2
    mean = s1[mask] / n_isi[mask]
    # two-pass variance (ddof = 0) for accuracy
    dev = isi - (s1 / np.maximum(n_isi, 1))[owner]
    var = np.bincount(owner, weights=dev * dev, minlength=n_neurons)[mask] / n_isi[mask]
    cv = np.sqrt(var) / mean
    return dict(rate_hz=float(rate), cv_isi=float(np.nanmean(cv)) if cv.size else float('nan'),
                total_spikes=int(ids.size), cv_n_neurons=int(mask.sum()),
                silent_neurons=int((counts == 0).sum()))


def run_engram(args, net, seed, tmp):
    yaml = os.path.join(ROOT, 'experiments', f'{net}.yaml')
    h5 = os.path.join(tmp, f'{net}_seed{seed}.h5')
    cmd = [args.engram, 'run', yaml, '-o', h5, '--seed', str(seed), '--threads', str(args.threads),
           '--set', f'simulation.duration={args.duration:g} s', '--set', f'simulation.precision={args.precision}', '-q']
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f'engram failed ({r.returncode}): {" ".join(cmd)}\n{r.stdout}{r.stderr}')
    ids, times = [], []
    offset = 0
    with h5py.File(h5, 'r') as f:
        duration_s = float(f.attrs['simulated_ms']) / 1e3
        for pop in f['spikes']:             # h5py iterates names in sorted order: exc, inh
            g = f['spikes'][pop]
            ids.append(np.asarray(g['node_ids'][:], dtype=np.int64) + offset)
            times.append(np.asarray(g['timestamps'][:], dtype=np.float64))
            offset += int(g.attrs['size'])
    os.remove(h5)
    st = network_stats(np.concatenate(ids), np.concatenate(times), offset, duration_s)
    st.update(seed=seed, wall_s=wall, n_neurons=offset)
    return st


# engram networks whose Brian2 peer is another network's script (same network and scheme)
PEER_OF = {'coba_euler': 'coba'}


def brian_cache_path(args, net, seed):
    return os.path.join(args.out, 'brian', f'{net}_{args.duration:g}s_seed{seed}.json')


def run_brian(args, net, seed, work):
    net = PEER_OF.get(net, net)
    path = brian_cache_path(args, net, seed)
    if args.skip_brian:
        if not os.path.exists(path):
            return None
    else:
        script = os.path.join(args.peers, f'brian2_{net}.py')
        stem = os.path.join(work, f'{net}_seed{seed}')
        cmd = ['/usr/bin/python3', script, '--device', 'cpp_standalone', '--duration', f'{args.duration:g}',
               '--threads', '1', '--seed', str(seed), '--out', stem + '.json']
        env = dict(os.environ, BRIAN_WORK=os.path.join(work, 'brian-work'))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.exit(f'Brian2 failed ({r.returncode}): {" ".join(cmd)}\n{r.stdout[-3000:]}{r.stderr[-3000:]}')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(stem + '.json', path)
        os.remove(stem + '.npz')
    with open(path) as f:
        j = json.load(f)
    return dict(seed=seed, rate_hz=j['mean_rate_hz'], cv_isi=j['cv_isi'],
                total_spikes=j['total_spikes'], cv_n_neurons=j['cv_isi_n_neurons'],
                silent_neurons=j['silent_neurons'], run_s=j.get('run_s'))


def msd(xs):
    xs = np.asarray(xs, dtype=np.float64)
    return float(xs.mean()), float(xs.std(ddof=1)) if xs.size > 1 else 0.0


def report(args, net, eng, bri):
    lines = []
    n_e, n_b = len(eng), len(bri)
    prec = ' (engram in double precision)' if args.precision == 'double' else ''
    lines.append(f'## {net.upper()}: engram vs Brian2 cpp_standalone, {args.duration:g} s simulated{prec}')
    lines.append('')
    lines.append(f'Seeds: engram {n_e} ({eng[0]["seed"]}..{eng[-1]["seed"]}), Brian2 {n_b}'
                 + (f' ({bri[0]["seed"]}..{bri[-1]["seed"]})' if bri else '')
                 + f'; mean +- sd over seeds; tolerance {100 * args.tolerance:g} % on the means.')
    lines.append('All 4000 neurons together; CV ISI = mean over neurons with >= 2 spikes of std/mean (ddof 0).')
    lines.append('')
    lines.append('| statistic | engram | Brian2 | rel. diff | result |')
    lines.append('|---|---|---|---|---|')
    verdicts = {}
    for key, label, fmt in (('rate_hz', 'rate (Hz)', '{:.3f} ± {:.3f}'), ('cv_isi', 'CV ISI', '{:.4f} ± {:.4f}')):
        me, se = msd([x[key] for x in eng])
        if bri:
            mb, sb = msd([x[key] for x in bri])
            rel = (me - mb) / mb
            ok = abs(rel) <= args.tolerance
            verdicts[key] = dict(engram_mean=me, engram_sd=se, brian2_mean=mb, brian2_sd=sb,
                                 rel_diff=rel, pass_=ok)
            lines.append(f'| {label} | {fmt.format(me, se)} | {fmt.format(mb, sb)} | '
                         f'{100 * rel:+.2f} % | {"PASS" if ok else "FAIL"} |')
        else:
            verdicts[key] = dict(engram_mean=me, engram_sd=se)
            lines.append(f'| {label} | {fmt.format(me, se)} | (no Brian2 results) | | |')
    lines.append('')
    lines.append('Per seed (rate Hz / CV ISI / spikes / silent neurons):')
    lines.append('')
    lines.append('| seed | engram | Brian2 |')
    lines.append('|---|---|---|')
    bmap = {x['seed']: x for x in bri}
    for x in eng:
        b = bmap.get(x['seed'])
        bs = (f'{b["rate_hz"]:.3f} / {b["cv_isi"]:.4f} / {b["total_spikes"]} / {b["silent_neurons"]}'
              if b else '')
        lines.append(f'| {x["seed"]} | {x["rate_hz"]:.3f} / {x["cv_isi"]:.4f} / '
                     f'{x["total_spikes"]} / {x["silent_neurons"]} | {bs} |')
    return '\n'.join(lines) + '\n', verdicts


def main():
    args = parse_args()
    if not os.access(args.engram, os.X_OK):
        sys.exit(f'engram binary not found: {args.engram} (use --engram or $ENGRAM)')
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='engram-stats.')
    all_ok = True
    try:
        for net in args.networks:
            eng, bri = [], []
            for seed in args.seeds:
                e = run_engram(args, net, seed, tmp)
                eng.append(e)
                msg = f'{net} seed {seed:3d}: engram {e["rate_hz"]:7.3f} Hz CV {e["cv_isi"]:.4f}'
                b = run_brian(args, net, seed, tmp)
                if b:
                    bri.append(b)
                    msg += f' | Brian2 {b["rate_hz"]:7.3f} Hz CV {b["cv_isi"]:.4f}'
                    msg += ' (cached)' if args.skip_brian else ''
                print(msg, flush=True)
            md, verdicts = report(args, net, eng, bri)
            print()
            print(md, flush=True)
            stem = f'stats_{net}' + ('_double' if args.precision == 'double' else '')
            with open(os.path.join(args.out, f'{stem}.md'), 'w') as f:
                f.write(md)
            with open(os.path.join(args.out, f'{stem}.json'), 'w') as f:
                json.dump(dict(network=net, duration_s=args.duration, engram=args.engram, precision=args.precision,
                               tolerance=args.tolerance, summary=verdicts,
                               engram_runs=eng, brian2_runs=bri), f, indent=1)
            all_ok &= all(v.get('pass_', True) for v in verdicts.values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == '__main__':
    sys.exit(main())
