"""The works labelwise implements or cites, in one table: keys, short citations, full references.

Code names a paper by its key (a strategy's ``paper="khosla2022, aggarwal2022"``, a benchmark
suite's ``paper="krishnan2021"``) and prints it with :func:`cite` / :func:`cite_many`; docstrings
and documents use the short citation itself ("Khosla et al. 2022, Algorithm 2"). The reference
list of ``docs/methods.md`` is this table written out (a test keeps the two in step).

``PAPERS`` holds the five papers whose methods, metrics and benchmarks the package implements;
``CITED`` the other works the code builds on. Short citations follow author-year style: one or
two authors by surname ("Sener & Savarese 2018"), three or more as "First et al." (APA 7). A work
whose text is anonymous is cited by its title instead: "Pretrained Models Are Good Active Learners
(2021)" in running text, "Pretrained Models Are Good Active Learners, 2021" inside parentheses or
a list (:func:`cite` with ``parenthetical=True``, and :func:`cite_many`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labelwise.validation import LabelwiseError, unknown_name_error


@dataclass(frozen=True)
class Work:
    """One entry of the table.

    Attributes:
        key: the name code uses for the work ("khosla2022").
        authors: full names as printed on the work; empty when it is anonymous.
        year: year of the version followed here.
        title: full title.
        venue: where it appeared (or its status), as one phrase.
        short_title: for an anonymous work, the title its short citation uses.
        note: what labelwise takes from it, or which version is followed (one sentence).
    """

    key: str
    authors: tuple[str, ...]
    year: int
    title: str
    venue: str
    short_title: str = ""
    note: str = ""

    def cite(self, parenthetical: bool = False) -> str:
        """The short citation: "Khosla et al. 2022", "Sener & Savarese 2018", or for an anonymous
        work its short title with the year, "(2021)" in running text and ", 2021" inside
        parentheses (``parenthetical=True``)."""
        if not self.authors:
            title = self.short_title or self.title
            return f"{title}, {self.year}" if parenthetical else f"{title} ({self.year})"
        surnames = [name.split()[-1] for name in self.authors]
        if len(surnames) == 1:
            who = surnames[0]
        elif len(surnames) == 2:
            who = f"{surnames[0]} & {surnames[1]}"
        else:
            who = f"{surnames[0]} et al."
        return f"{who} {self.year}"

    def reference(self) -> str:
        """The full reference, one line: authors (year). Title. Venue. Note."""
        if self.authors:
            names = self.authors[0] if len(self.authors) == 1 else (
                ", ".join(self.authors[:-1]) + " and " + self.authors[-1])
        else:
            names = "Anonymous"
        line = f"{names} ({self.year}). {self.title}. {self.venue}."
        return f"{line} {self.note}" if self.note else line


def _works(*works: Work) -> dict[str, Work]:
    return {w.key: w for w in works}


#: The five papers the package implements, in the order of their benchmark suites.
PAPERS: dict[str, Work] = _works(
    Work("pretrained", (), 2021, "Pretrained Models Are Good Active Learners",
         "Paper under double-blind review",
         note="Uncertainty sampling on fine-tuned pretrained models; spurious-correlation, "
              "minority-group and dose-response benchmarks; labels saved; group oversampling."),
    Work("deep-al-study", (), 2021,
         "An Empirical Study of Deep Active Learning for Image Classification",
         "Thesis", short_title="An Empirical Study of Deep Active Learning",
         note="The copy followed has no title page; its title here is reconstructed from the "
              "abstract. Coreset versus ensembles, query size, warm-up size, imbalanced binary "
              "tasks."),
    Work("khosla2022", ("Savya Khosla", "Chew Kin Whye", "Jordan T. Ash", "Cyril Zhang",
                        "Kenji Kawaguchi", "Alex Lamb"), 2022,
         "Neural Active Learning on Heteroskedastic Distributions", "arXiv:2211.00928",
         note='The revised version, "Understanding and Improving Neural Active Learning on '
              'Heteroskedastic Distributions", is the one followed. Heteroskedastic '
              "benchmarks, LHD, fine-tuning on confident pseudo-labels (+FT)."),
    Work("aggarwal2022", ("Umang Aggarwal", "Adrian Popescu", "Céline Hudelot"), 2022,
         "Optimizing Active Learning for Low Annotation Budgets", "arXiv:2201.07200",
         note="Shallow classifiers on frozen pretrained features, alamp, diversification by "
              "predicted class, imbalance ratio."),
    Work("krishnan2021", ("Ranganath Krishnan", "Alok Sinha", "Nilesh Ahuja", "Mahesh Subedar",
                          "Omesh Tickoo", "Ravi Iyer"), 2021,
         "Mitigating Sampling Bias and Improving Robustness in Active Learning",
         "ICML 2021 Workshop on Human In the Loop Learning; arXiv:2109.06321",
         note="SCAL, FeatureSim, DFM; sampling bias, calibration, query time, OOD AUROC."),
)

#: Other works the code builds on or compares with.
CITED: dict[str, Work] = _works(
    Work("arthur2007", ("David Arthur", "Sergei Vassilvitskii"), 2007,
         "k-means++: The Advantages of Careful Seeding",
         "Proceedings of the 18th ACM-SIAM Symposium on Discrete Algorithms (SODA)",
         note="k-means++ seeding, the selector of BADGE and LHD."),
    Work("zhu2008", ("Jingbo Zhu", "Huizhen Wang", "Eduard Hovy"), 2008,
         "Multi-Criteria-Based Strategy to Stop Active Learning for Data Annotation",
         "Proceedings of COLING 2008, pp. 1129-1136",
         note="Confidence-based stopping criteria."),
    Work("bloodgood2009", ("Michael Bloodgood", "K. Vijay-Shanker"), 2009,
         "A Method for Stopping Active Learning Based on Stabilizing Predictions and the Need "
         "for User-Adjustable Stopping", "Proceedings of CoNLL 2009, pp. 39-47",
         note="Stopping when successive models' predictions agree (stabilizing predictions)."),
    Work("halko2011", ("Nathan Halko", "Per-Gunnar Martinsson", "Joel A. Tropp"), 2011,
         "Finding Structure with Randomness: Probabilistic Algorithms for Constructing "
         "Approximate Matrix Decompositions", "SIAM Review 53(2), pp. 217-288",
         note="The randomized range finder behind the k-means++ bounds."),
    Work("gal2017", ("Yarin Gal", "Riashat Islam", "Zoubin Ghahramani"), 2017,
         "Deep Bayesian Active Learning with Image Data", "Proceedings of ICML 2017",
         note="BALD with MC dropout."),
    Work("beluch2018", ("William H. Beluch", "Tim Genewein", "Andreas Nürnberger",
                        "Jan M. Köhler"), 2018,
         "The Power of Ensembles for Active Learning in Image Classification",
         "Proceedings of CVPR 2018, pp. 9368-9377",
         note="Deep ensembles and the variation ratio."),
    Work("sener2018", ("Ozan Sener", "Silvio Savarese"), 2018,
         "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
         "ICLR 2018", note="Coreset: k-center greedy on the embedding."),
    Work("ahuja2019", ("Nilesh A. Ahuja", "Ibrahima Ndiour", "Trushant Kalyanpur",
                       "Omesh Tickoo"), 2019,
         "Probabilistic Modeling of Deep Features for Out-of-Distribution and Adversarial "
         "Detection", "arXiv:1909.11786", note="Class-conditional models of deep features (DFM)."),
    Work("tan2019", ("Mingxing Tan", "Quoc V. Le"), 2019,
         "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
         "Proceedings of ICML 2019", note="The image encoder (EfficientNet-Lite0)."),
    Work("yoo2019", ("Donggeun Yoo", "In So Kweon"), 2019, "Learning Loss for Active Learning",
         "Proceedings of CVPR 2019", note="The Learning Loss baseline."),
    Work("ash2020", ("Jordan T. Ash", "Chicheng Zhang", "Akshay Krishnamurthy", "John Langford",
                     "Alekh Agarwal"), 2020,
         "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds", "ICLR 2020",
         note="BADGE: k-means++ seeding on gradient embeddings."),
    Work("khosla2020", ("Prannay Khosla", "Piotr Teterwak", "Chen Wang", "Aaron Sarna",
                        "Yonglong Tian", "Phillip Isola", "Aaron Maschinot", "Ce Liu",
                        "Dilip Krishnan"), 2020,
         "Supervised Contrastive Learning", "Advances in Neural Information Processing Systems "
         "33 (NeurIPS 2020)", note="The supervised contrastive loss SCAL trains with."),
    Work("hacohen2022", ("Guy Hacohen", "Avihu Dekel", "Daphna Weinshall"), 2022,
         "Active Learning on a Budget: Opposite Strategies Suit High and Low Budgets",
         "Proceedings of ICML 2022", note="TypiClust: typical points for a cold start."),
    Work("yehuda2022", ("Ofer Yehuda", "Avihu Dekel", "Guy Hacohen", "Daphna Weinshall"), 2022,
         "Active Learning Through a Covering Lens",
         "Advances in Neural Information Processing Systems 35 (NeurIPS 2022)",
         note="ProbCover: maximum probability coverage for a cold start."),
    Work("citovsky2021", ("Gui Citovsky", "Giulia DeSalvo", "Claudio Gentile", "Lazaros Karydas",
                          "Anand Rajagopalan", "Afshin Rostamizadeh", "Sanjiv Kumar"), 2021,
         "Batch Active Learning at Scale",
         "Advances in Neural Information Processing Systems 34 (NeurIPS 2021)",
         note="Cluster-Margin: HAC once, then low-margin candidates round-robin over clusters."),
)

#: Every work, the five papers first.
WORKS: dict[str, Work] = {**PAPERS, **CITED}


def work(key: str) -> Work:
    """The :class:`Work` of ``key``; a one-line error listing the keys if it is unknown."""
    key = key.strip()
    if key not in WORKS:
        raise unknown_name_error("paper key", key, WORKS)
    return WORKS[key]


def cite(key: str, parenthetical: bool = False) -> str:
    """The short citation of ``key``: ``cite("khosla2022")`` -> ``"Khosla et al. 2022"``.

    An anonymous work gives its title and year, "Title (2021)", or with ``parenthetical`` (for
    use inside parentheses) "Title, 2021"; for authored works both forms are the same.
    """
    return work(key).cite(parenthetical)


def reference(key: str) -> str:
    """The full reference of ``key`` as one line (authors, year, title, venue, note)."""
    return work(key).reference()


def split_keys(keys: str) -> list[str]:
    """``"khosla2022, aggarwal2022"`` -> ``["khosla2022", "aggarwal2022"]``, each checked."""
    out = [k.strip() for k in keys.split(",") if k.strip()]
    if not out:
        raise LabelwiseError("no paper key given; name one or more keys separated by commas")
    for k in out:
        work(k)
    return out


def cite_many(keys: str) -> str:
    """Short citations of comma-separated keys, joined by "; " in the given order.

    ``cite_many("khosla2022, aggarwal2022")`` -> ``"Khosla et al. 2022; Aggarwal et al. 2022"``.
    Anonymous works use the parenthetical form (the result usually stands in brackets).
    """
    return "; ".join(cite(k, parenthetical=True) for k in split_keys(keys))
