"""Shape, size and mode behaviour of the networks beyond the golden vectors."""

from __future__ import annotations

import pytest
import torch

from facelab.errors import ConfigError
from facelab.nn.factory import create_discriminator, create_generator, list_models
from facelab.nn.layers import init_weights, set_test_mode


@pytest.mark.parametrize("arch", ["unet_256", "unet_128", "resnet_6blocks", "resnet_9blocks"])
@pytest.mark.parametrize("hw", [(37, 53), (130, 70), (256, 256)])
def test_generators_accept_any_size(arch: str, hw: tuple[int, int]) -> None:
    net = set_test_mode(create_generator(arch, ngf=4, norm="instance"))
    x = torch.rand(1, 3, *hw) * 2 - 1
    with torch.inference_mode():
        y = net(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0


def test_unet_padding_keeps_the_picture_where_it_was() -> None:
    """Cropping back after padding must return the region that corresponds to the input."""
    torch.manual_seed(0)
    net = set_test_mode(create_generator("unet_128", ngf=4, norm="instance"))
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.inference_mode():
        full = net(x)
        part = net(x[..., :100, :120])
    # far from the padded border, the padded run sees the same context
    assert (full[..., :40, :40] - part[..., :40, :40]).abs().max() < 0.2


def test_pix2pix_official_test_mode_uses_batch_statistics_and_dropout() -> None:
    torch.manual_seed(0)
    net = init_weights(create_generator("unet_256", ngf=4, norm="batch", use_dropout=True))
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    set_test_mode(net)  # eval: deterministic
    with torch.inference_mode():
        a, b = net(x), net(x)
    assert torch.equal(a, b)
    set_test_mode(net, batch_stats=True, dropout=True)  # official test.py default: noisy
    running = net.model.model[1].model[2].running_mean.clone()
    with torch.inference_mode():
        c, d = net(x), net(x)
    assert not torch.equal(c, d)
    assert not torch.allclose(a, c)
    assert torch.equal(net.model.model[1].model[2].running_mean, running)


@pytest.mark.parametrize("name,hw,out", [("basic", 256, 30), ("n_layers", 256, 14), ("pixel", 64, 64)])
def test_discriminator_output_maps(name: str, hw: int, out: int) -> None:
    net = create_discriminator(name, input_nc=6, ndf=8, norm="batch", n_layers_D=4)
    assert net(torch.rand(2, 6, hw, hw)).shape == (2, 1, out, out)


def test_init_weights_is_normal_002() -> None:
    torch.manual_seed(0)
    net = init_weights(create_generator("resnet_9blocks", ngf=32))
    w = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.002
    assert abs(w.mean().item()) < 0.002


def test_registry_and_errors() -> None:
    assert list_models() == {"generators": ["faceswap_ae", "resnet_6blocks", "resnet_9blocks", "unet_128", "unet_256"],
                             "discriminators": ["basic", "n_layers", "pixel"]}
    with pytest.raises(ConfigError, match="unknown generator"):
        create_generator("unet_512")
    with pytest.raises(ConfigError, match="unknown norm"):
        create_generator("unet_256", norm="group")
