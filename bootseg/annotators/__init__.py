"""Built-in first stages, registered through the same ``register_annotators`` hook as any plugin.

=============  ==========================================  ===============================================
name           class                                       own options (defaults)
=============  ==========================================  ===============================================
``otsu``       :class:`~.thresholds.Otsu`                  -- (:class:`~.thresholds.GlobalThreshold`)
``kmeans``     :class:`~.kmeans.KMeans`                    ``k=2``, ``color=False``, ``seed=0``,
                                                           ``polarity="largest"``
``li``         :class:`~.thresholds.Li`                    --
``yen``        :class:`~.thresholds.Yen`                   --
``triangle``   :class:`~.thresholds.Triangle`              --
``isodata``    :class:`~.thresholds.Isodata`               --
``multiotsu``  :class:`~.thresholds.MultiOtsu`             ``classes=3``
``auto``       :class:`~.auto.Auto`                         ``classes="auto"``, ``channel="auto"``,
                                                           ``neck=0.5``, ``ridges="auto"``,
                                                           ``per_object=False`` (the default chain's
                                                           first stage)
``sauvola``    :class:`~.thresholds.Sauvola`               ``window_size=15``, ``k=0.2``
``niblack``    :class:`~.thresholds.Niblack`               ``window_size=15``, ``k=0.2``
``ridges``     :class:`~.ridges.Ridges`                    ``radius=5.0`` (the lines' half-width)
=============  ==========================================  ===============================================

Every one also takes the shared keyword options ``polarity="auto"`` (kmeans: ``"largest"``), ``median=0``,
``largest_component=False`` (auto: ``"auto"``), ``fill_holes=True``, ``min_size=0``, ``neck=0.0`` and
``channel="grey"`` (:class:`~bootseg.annotators.base.ThresholdAnnotator`). The five global thresholds are one
class, :class:`~.thresholds.GlobalThreshold`, over one table of methods
(:data:`~.thresholds.GLOBAL_METHODS`); ``Otsu`` and its siblings are that class with the method named.

What a stage does with an image is its :class:`~.plan.Plan`: the options alone, until ``fit`` chooses one plan
for the whole set (``stage.plan``; ``stage.choices()`` reports it).

>>> from bootseg import get_annotator
>>> get_annotator("otsu", polarity="dark", median=5)  # doctest: +NORMALIZE_WHITESPACE
Otsu(polarity='dark', median=5, largest_component=False, fill_holes=True, min_size=0, neck=0.0,
     channel='grey')
"""

from __future__ import annotations

from ..hookspecs import Register, hookimpl
from .auto import Auto
from .base import ThresholdAnnotator
from .kmeans import KMeans
from .plan import Plan
from .polarity import choose_polarity, polarity_score
from .ridges import Ridges
from .thresholds import GlobalThreshold, Isodata, Li, MultiOtsu, Niblack, Otsu, Sauvola, Triangle, Yen

__all__ = [
    "BUILTIN_ANNOTATORS",
    "Auto",
    "GlobalThreshold",
    "Isodata",
    "KMeans",
    "Li",
    "MultiOtsu",
    "Niblack",
    "Otsu",
    "Plan",
    "Ridges",
    "Sauvola",
    "ThresholdAnnotator",
    "Triangle",
    "Yen",
    "choose_polarity",
    "polarity_score",
    "register_annotators",
]

#: The built-in annotators by registered name.
BUILTIN_ANNOTATORS: dict[str, type[ThresholdAnnotator]] = {
    cls.name: cls for cls in (Otsu, KMeans, Li, Yen, Triangle, Isodata, MultiOtsu, Auto, Sauvola, Niblack, Ridges)
}


@hookimpl
def register_annotators(register: Register) -> None:
    """Register the built-in annotators under their names (:data:`BUILTIN_ANNOTATORS`).

    >>> names = []
    >>> register_annotators(lambda name, factory: names.append(name))
    >>> "otsu" in names
    True
    """
    for name, cls in BUILTIN_ANNOTATORS.items():
        register(name, cls)
