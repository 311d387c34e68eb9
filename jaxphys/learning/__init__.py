"""Learning: datasets (archetypes) and the learning rules that build couplings from them."""

from .archetypes import archetype_dataset as archetype_dataset
from .archetypes import supervised_hebbian as supervised_hebbian
from .archetypes import unsupervised_hebbian as unsupervised_hebbian
from . import data as data
from . import train as train
from . import amp as amp
from . import rbm as rbm
from . import hebbian as hebbian
from . import online as online
from . import perceptron as perceptron
from . import random_features as random_features
