#!/usr/bin/python3
"""The COBA benchmark network scaled up with its in-degree kept, in Brian2 2.5.1: the twin
of experiments/coba_large.yaml, for the thread-scaling comparison (bench/threads.sh
--with-brian).

It is the network of ../shared/peers/brian2_coba.py (Vogels & Abbott 2005 as Brian's
canonical COBA script has it: forward Euler, weights 0.6 and 6.7 g_L, refractory 5 ms
with v clamped, no delays, no external drive, the same random initial values) with
--scale times the neurons (default 10: 32,000 excitatory and 8,000 inhibitory) and the
connection probability divided by --scale (0.002), so that every neuron keeps about 80
excitatory and 20 inhibitory sources. Self-synapses are allowed, as in the original.

engram's experiments/coba_large.yaml integrates v with exponential Euler (as coba.yaml);
Brian's script, and so this one, uses forward Euler. The schemes cost differently per
neuron; the thread scaling of each simulator is read against its own 1-thread run.

Same command line and output as the peers in ../shared/peers (brian2_common.py), plus
--scale:

Usage: /usr/bin/python3 brian2_coba_large.py --device cpp_standalone --duration 2 \
          --seed 1 --threads 2 --out results/coba_large.json
Environment: PEERS (default ../shared/peers relative to the repository root), where
brian2_common.py is found.
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('PEERS', os.path.join(here, '..', '..', 'shared', 'peers')))
import brian2_common as bc  # noqa: E402


def scale_from_argv():
    """Takes --scale K (or --scale=K) off sys.argv, so that brian2_common's parser sees
    only its own options. Returns K (a positive integer; default 10)."""
    k, argv, it = 10, [sys.argv[0]], iter(sys.argv[1:])
    for a in it:
        if a == '--scale' or a.startswith('--scale='):
            v = a.partition('=')[2] if '=' in a else next(it, '')
            if not v.isdigit() or int(v) < 1:
                sys.exit(f"brian2_coba_large.py: --scale takes a positive integer, not '{v}'")
            k = int(v)
        else:
            argv.append(a)
    sys.argv = argv
    return k


def main():
    scale = scale_from_argv()
    args = bc.parse_args(f'COBA x{scale}')
    b2, info = bc.setup(args, f'coba_large{scale}')
    from brian2 import ms, mV, second, NeuronGroup, Synapses, SpikeMonitor, Network

    n_exc, n_inh = 3200 * scale, 800 * scale
    n = n_exc + n_inh
    p = 0.02 / scale
    consts = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, El=-60 * mV, Vt=-50 * mV, Vr=-60 * mV,
                  Ee=0 * mV, Ei=-80 * mV, we=0.6, wi=6.7)  # we, wi in units of g_L
    model = '''
    dv/dt = (El - v + ge*(Ee - v) + gi*(Ei - v)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : 1
    dgi/dt = -gi / taui : 1
    '''
    cells = NeuronGroup(n, model, threshold='v > Vt', reset='v = Vr', refractory=5 * ms,
                        method='euler', name='P')
    exc_syn = Synapses(cells[:n_exc], cells, on_pre='ge += we', name='Ce')
    inh_syn = Synapses(cells[n_exc:], cells, on_pre='gi += wi', name='Ci')
    for s in (exc_syn, inh_syn):
        s.connect(p=p)
    El = consts['El']  # the string below is resolved in this function's namespace
    cells.v = 'El + (randn()*5 - 5)*mV'
    cells.ge = 'randn()*1.5 + 4'
    cells.gi = 'randn()*12 + 20'
    mon = SpikeMonitor(cells, name='spikes')
    bc.run_network(b2, args, info, Network(cells, exc_syn, inh_syn, mon), args.duration * second, consts)

    ids, times = mon.i[:], mon.t[:] / second
    synapses = len(exc_syn) + len(inh_syn)
    info.update(bc.spike_stats(ids, times, n, args.duration))
    info.update(n_synapses=int(synapses), mean_out_degree=synapses / n,
                params=dict(scale=scale, N=n, NE=n_exc, p=p, method='euler',
                            source='../shared/peers/brian2_coba.py scaled (in-degree kept)'))
    bc.save(args, f'COBA x{scale}', info, ids, times)


if __name__ == '__main__':
    main()
