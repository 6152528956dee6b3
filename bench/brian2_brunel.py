#!/usr/bin/python3
"""Brunel (2000), J. Comput. Neurosci. 8:183, model A, in Brian2 2.5.1: sparse network of
LIF neurons with delta synapses (a spike makes the membrane potential jump), fixed
in-degree, external Poisson drive; asynchronous-irregular regime (g = 5,
nu_ext / nu_thr = 2). The engram twin is experiments/brunel.yaml, matched exactly:

  N_E = 10000, N_I = 2500 (one group, excitatory first);
  C_E = 1000 excitatory and C_I = 250 inhibitory sources per neuron, fixed in-degree,
  distinct sources, no self-connections for E->E and I->I (self-connections cannot occur
  for E->I and I->E);
  J = 0.1 mV, inhibitory weight -g J = -0.5 mV, delay D = 1.5 ms (homogeneous);
  tau_m = 20 ms, E_L = 0 mV, theta = 20 mV, V_r = 10 mV, t_ref = 2 ms, exact integration;
  initial v uniform in [0, 20) mV;
  external drive: PoissonInput(N = 1000, rate = 20 Hz, weight = 0.1 mV) on v of every
  neuron (nu_thr = theta / (J C_E tau_m) = 10 Hz, so nu_ext = 2 nu_thr);
  refractoriness as in engram's lif_curr_delta: v is clamped (not integrated, left at
  V_r) and every input arriving during the refractory period is dropped (recurrent and
  external weights are multiplied by int(not_refractory_post)).
dt = 0.1 ms.

The connectivity is drawn with numpy (seeded with --seed) and handed to Brian as index
arrays, since Brian's generator syntax gives a fixed *out*-degree only. In cpp_standalone
the arrays are written into the project as static data, so drawing them is Python-side
set-up and not part of binary_s.

Same command line and output as the peers in ../shared/peers (brian2_common.py):

Usage: /usr/bin/python3 brian2_brunel.py --device runtime|cpp_standalone \
          --duration 1 --seed 1 --threads 1 --out results/brunel.json
Environment: PEERS (default ../shared/peers relative to the repository root), where
brian2_common.py is found.
"""
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('PEERS', os.path.join(here, '..', '..', 'shared', 'peers')))
import brian2_common as bc  # noqa: E402

import numpy as np  # noqa: E402

N_E, N_I = 10000, 2500
C_E, C_I = 1000, 250


def fixed_in_degree(rng, n_pre, n_post, n, pre_offset, same_population, block=256):
    """Each of the n_post targets gets n distinct sources among the n_pre ones; with
    same_population, target k never gets source k. Returns (i, j) as int32 arrays,
    i offset by pre_offset (index into the whole group)."""
    ii = np.empty(n_post * n, dtype=np.int32)
    for b in range(0, n_post, block):
        e = min(b + block, n_post)
        keys = rng.random((e - b, n_pre))
        if same_population:
            rows = np.arange(e - b)
            keys[rows, np.arange(b, e)] = 2.0     # never among the n smallest
        pick = np.argpartition(keys, n - 1, axis=1)[:, :n]
        pick.sort(axis=1)
        ii[b * n:e * n] = pick.ravel() + pre_offset
    jj = np.repeat(np.arange(n_post, dtype=np.int32), n)
    return ii, jj


def main():
    args = bc.parse_args('Brunel')
    b2, info = bc.setup(args, 'brunel')
    from brian2 import ms, mV, Hz, second, NeuronGroup, Synapses, PoissonInput, \
        SpikeMonitor, Network

    N = N_E + N_I
    tau_m, t_ref, D = 20 * ms, 2 * ms, 1.5 * ms
    theta, V_r, E_L = 20 * mV, 10 * mV, 0 * mV
    J, g = 0.1 * mV, 5.0
    nu_ext, C_ext = 20 * Hz, 1000

    P = NeuronGroup(N, 'dv/dt = (E_L - v) / tau_m : volt (unless refractory)',
                    threshold='v >= theta', reset='v = V_r', refractory=t_ref,
                    method='exact', name='P')
    P.v = 'rand() * theta'                         # uniform in [0, 20) mV
    PE, PI = P[:N_E], P[N_E:]

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    # excitatory sources onto every neuron (E->E without self-connections, E->I)
    i_ee, j_ee = fixed_in_degree(rng, N_E, N_E, C_E, 0, True)
    i_ei, j_ei = fixed_in_degree(rng, N_E, N_I, C_E, 0, False)
    # inhibitory sources (I->E, I->I without self-connections); I is P[N_E:]
    i_ie, j_ie = fixed_in_degree(rng, N_I, N_E, C_I, 0, False)
    i_ii, j_ii = fixed_in_degree(rng, N_I, N_I, C_I, 0, True)
    info['connectivity_numpy_s'] = time.perf_counter() - t0

    Se = Synapses(PE, P, on_pre='v_post += J * int(not_refractory_post)', delay=D, name='Se')
    Se.connect(i=np.concatenate([i_ee, i_ei]), j=np.concatenate([j_ee, j_ei + N_E]))
    Si = Synapses(PI, P, on_pre='v_post += -g * J * int(not_refractory_post)', delay=D,
                  name='Si')
    Si.connect(i=np.concatenate([i_ie, i_ii]), j=np.concatenate([j_ie, j_ii + N_E]))
    ext = PoissonInput(P, 'v', C_ext, nu_ext, weight='J * int(not_refractory)')
    sm = SpikeMonitor(P, name='spikes')
    net = Network(P, Se, Si, ext, sm)

    ns = dict(tau_m=tau_m, E_L=E_L, theta=theta, V_r=V_r, J=J, g=g)
    bc.run_network(b2, args, info, net, args.duration * second, ns)

    i, t = sm.i[:], sm.t[:] / second
    n_syn = (N_E + N_I) * (C_E + C_I)
    info.update(bc.spike_stats(i, t, N, args.duration))
    info.update(n_synapses=int(n_syn), mean_out_degree=n_syn / N,
                rate_exc_hz=float(np.count_nonzero(np.asarray(i) < N_E) / (N_E * args.duration)),
                rate_inh_hz=float(np.count_nonzero(np.asarray(i) >= N_E) / (N_I * args.duration)),
                params=dict(N_E=N_E, N_I=N_I, C_E=C_E, C_I=C_I, J_mV=0.1, g=g, D_ms=1.5,
                            tau_m_ms=20, theta_mV=20, V_r_mV=10, t_ref_ms=2, E_L_mV=0,
                            v_init='uniform [0, 20) mV', C_ext=C_ext, nu_ext_hz=20,
                            J_ext_mV=0.1, refractory='v clamped, inputs dropped',
                            method='exact', source='Brunel (2000) model A; '
                            'engram experiments/brunel.yaml'))
    bc.save(args, 'Brunel', info, i, t)


if __name__ == '__main__':
    main()
