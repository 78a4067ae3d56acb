"""The generator's weight average: the update rule, its ramp, buffers, and that it never trains."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from colorize.models.weight_average import WeightAverage


def small_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())


def test_average_follows_the_documented_rule_with_its_ramp():
    network = small_network()
    start = [p.detach().clone() for p in network.parameters()]
    average = WeightAverage(network, decay=0.9)
    expected = [s.clone() for s in start]
    for n in range(30):
        with torch.no_grad():
            for p in network.parameters():
                p.add_(0.1 * (n + 1))
        average.update(network)
        decay = min(0.9, (1 + n) / (10 + n))
        expected = [decay * e + (1 - decay) * p.detach() for e, p in zip(expected, network.parameters(), strict=True)]
    for got, want in zip(average.average.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want)
    assert int(average.updates) == 30
    # the ramp is over: the average lags the network
    assert not torch.allclose(next(average.average.parameters()), next(network.parameters()))


def test_batch_norm_statistics_are_averaged_and_counters_copied():
    network = small_network()
    average = WeightAverage(network, decay=0.5)
    network.train()
    network(torch.randn(4, 1, 8, 8) + 3.0)  # moves running_mean towards ~3·weights
    average.update(network)
    decay = min(0.5, 1 / 10)
    bn_average, bn_network = average.average[1], network[1]
    torch.testing.assert_close(bn_average.running_mean, (1 - decay) * bn_network.running_mean)
    assert int(bn_average.num_batches_tracked) == int(bn_network.num_batches_tracked) == 1


def test_average_stays_in_eval_mode_and_receives_no_gradient():
    network = small_network()
    average = WeightAverage(network, decay=0.9)
    holder = nn.ModuleDict({"network": network, "ema": average}).train()
    assert holder["network"].training and not average.average.training
    assert not any(p.requires_grad for p in average.parameters())
    before = [p.detach().clone() for p in network.parameters()]
    average.update(network)
    assert all(torch.equal(a, p) for a, p in zip(before, network.parameters(), strict=True))


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(small_network(), decay)
