// Glossary: the symbols used in shape comments throughout MambaScope, and their config names.
//
//   symbol  meaning                          HF config             state-spaces config
//   B       batch (sequences)                -                     -
//   T       tokens per sequence (L in papers)-                     -
//   d       d_model, residual width          hidden_size           d_model
//   E       d_inner = expand * d             intermediate_size     expand * d_model
//   N       d_state, state size per channel  state_size            ssm_cfg.d_state
//   K       d_conv, causal conv width        conv_kernel           ssm_cfg.d_conv
//   R       dt_rank (Mamba-1)                time_step_rank        ssm_cfg.dt_rank ("auto" = ceil(d/16))
//   H       heads (Mamba-2), E / P           num_heads             E / headdim
//   P       head_dim (Mamba-2)               head_dim              ssm_cfg.headdim
//   G       groups sharing B and C (Mamba-2) n_groups              ssm_cfg.ngroups
//   V       embedding rows (padded vocab)    vocab_size            vocab_size padded to pad_vocab_size_multiple
//   L       layers                           num_hidden_layers     n_layer
//
// Mamba-1 tensors:  in_proj.weight [2E, d], conv1d.weight [E, 1, K], conv1d.bias [E],
//   x_proj.weight [R + 2N, E], dt_proj.weight [E, R], dt_proj.bias [E], A_log [E, N], D [E],
//   out_proj.weight [d, E], norm.weight [d]; state s [E, N].
// Mamba-2 tensors:  in_proj.weight [2E + 2GN + H, d], conv1d.weight [E + 2GN, 1, K],
//   conv1d.bias [E + 2GN], dt_bias [H], A_log [H], D [H], gated_norm.weight [E],
//   out_proj.weight [d, E]; state s [H, P, N].
#pragma once
