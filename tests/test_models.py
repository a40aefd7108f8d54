"""The one model/method table (neunet.sim.models) and everything that reads it."""
from neunet import params
from neunet.sim import cli_parser, engine
from neunet.sim.models import AUTO, METHODS, MODELS, REFERENCE_ONLY_MODELS, n_state_vars
from neunet.sweep import cost_constants


def test_every_reader_uses_the_one_table():
    assert engine.MODELS is MODELS and params.MODELS is MODELS
    assert params.METHODS == METHODS + (AUTO,)
    assert list(engine.METHOD_IDS) == list(METHODS)
    actions = {a.dest: a for a in cli_parser.build_parser()._actions}
    assert ", ".join(MODELS) in actions["neuron_model"].help


def test_models_pair_with_known_methods_and_have_cost_constants():
    for name, model in MODELS.items():
        assert set(model.methods) <= set(METHODS), name
        assert name in cost_constants.SECONDS_PER_STEP, name
        assert model.cost_base in cost_constants.TAU_PRODUCT, name
        assert n_state_vars(name) == len(model.rows) == model.n_state
    assert not set(REFERENCE_ONLY_MODELS) & set(MODELS)
