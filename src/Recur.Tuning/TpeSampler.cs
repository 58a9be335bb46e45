namespace Recur.Tuning;

/// <summary>
/// Tree-structured Parzen Estimator (Bergstra et al. 2011), following Optuna's defaults. After
/// <see cref="StartupTrials"/> random trials, the finished trials are ranked (complete ones by value, then pruned
/// ones by how far they got) and split at γ(n) = min(⌈0.1 n⌉, 25) into a good set and a bad set. Each set gives a
/// Parzen estimator per parameter: a mixture of truncated normals, one per observation (in log space for log
/// ranges) plus a wide prior, with bandwidths from the distances to neighbouring observations clipped to
/// [range / min(100, n + 1), range]; categorical parameters get smoothed counts. Observations are weighted by
/// recency (old trials ramp down once there are more than 25). <see cref="Candidates"/> draws from the good
/// estimator l(x); the one with the largest l(x)/g(x) wins.
/// <see cref="Multivariate"/>: the unconditional parameters are drawn jointly from product kernels (bandwidth
/// 0.2 · n^(−1/(d+4)) · range per dimension), conditional ones univariately.
/// <see cref="ConstantLiar"/>: trials still running count as bad ones (with the worst value), so parallel workers
/// do not pile onto the same region.
/// </summary>
public sealed class TpeSampler(ulong seed) : ISampler
{
    public int StartupTrials { get; init; } = 10;
    public int Candidates { get; init; } = 24;
    public bool Multivariate { get; init; }
    public bool ConstantLiar { get; init; } = true;
    public double PriorWeight { get; init; } = 1.0;

    public static int Gamma(int n) => Math.Min((int)Math.Ceiling(0.1 * n), 25);

    /// <summary>Optuna's default weights: flat for the newest 25 observations, a linear ramp below them.</summary>
    public static double[] Weights(int n)
    {
        if (n < 25) return Enumerable.Repeat(1.0, n).ToArray();
        var w = new double[n];
        int ramp = n - 25;
        for (int i = 0; i < ramp; i++) w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1 - 1.0 / n) * i / (ramp - 1);
        for (int i = ramp; i < n; i++) w[i] = 1;
        return w;
    }

    public Dictionary<string, double> Sample(SearchSpace space, IReadOnlyList<TrialRecord> trials, int number)
    {
        var rng = new Random(Seeds.ForTrial(seed, number, salt: 1));
        var finished = trials.Where(t => t.IsFinished && t.Value is double v && !double.IsNaN(v)).ToList();
        var chosen = new Dictionary<string, double>();
        if (finished.Count < Math.Max(1, StartupTrials))
        {
            foreach (var p in space.Parameters)
                if (space.IsActive(p, chosen)) chosen[p.Name] = Samplers.Uniform(p, rng);
            return chosen;
        }
        // Complete trials by value, then pruned trials: those that got further first, then by their last value.
        var ranked = finished.Where(t => t.State == TrialState.Complete).OrderBy(t => t.Value!.Value)
            .Concat(finished.Where(t => t.State == TrialState.Pruned).OrderByDescending(t => t.LastStep).ThenBy(t => t.Value!.Value)).ToList();
        int nBelow = Math.Max(1, Gamma(ranked.Count));
        var below = ranked.Take(nBelow).OrderBy(t => t.Number).ToList();
        var above = ranked.Skip(nBelow).ToList();
        if (ConstantLiar) above.AddRange(trials.Where(t => t.State is TrialState.Running or TrialState.Waiting && t.Number != number));
        above = above.OrderBy(t => t.Number).ToList();

        var joint = Multivariate
            ? space.Parameters.Where(p => p.When.Count == 0 && p.Kind != ParameterKind.Fixed).ToList()
            : [];
        if (joint.Count > 1)
        {
            var values = SampleGroup(joint, below, above, rng, multivariate: true);
            for (int i = 0; i < joint.Count; i++) chosen[joint[i].Name] = values[i];
        }
        else joint = [];
        foreach (var p in space.Parameters)
        {
            if (chosen.ContainsKey(p.Name) || !space.IsActive(p, chosen)) continue;
            chosen[p.Name] = p.Kind == ParameterKind.Fixed ? 0 : SampleGroup([p], below, above, rng, multivariate: false)[0];
        }
        return chosen;
    }

    /// <summary>Draws candidates from l(x) over the parameters in <paramref name="group"/> and keeps the best l/g.</summary>
    private double[] SampleGroup(IReadOnlyList<SearchParameter> group, List<TrialRecord> below, List<TrialRecord> above, Random rng, bool multivariate)
    {
        double[][] Observations(List<TrialRecord> set) => set.Where(t => group.All(p => t.Params.ContainsKey(p.Name)))
            .Select(t => group.Select(p => p.Kind == ParameterKind.Categorical ? t.Params[p.Name] : Samplers.ToSpace(p, t.Params[p.Name])).ToArray()).ToArray();
        var good = new ParzenEstimator(group, Observations(below), PriorWeight, multivariate);
        var bad = new ParzenEstimator(group, Observations(above), PriorWeight, multivariate);
        double[]? best = null;
        double bestScore = double.NegativeInfinity;
        for (int c = 0; c < Candidates; c++)
        {
            var x = good.Sample(rng);
            double score = good.LogDensity(x) - bad.LogDensity(x);
            if (best is null || score > bestScore) (best, bestScore) = (x, score);
        }
        return group.Select((p, i) => Samplers.FromSpace(p, best![i])).ToArray();
    }
}

/// <summary>
/// A mixture of one kernel per observation plus a prior kernel, over numeric dimensions (truncated normals in the
/// sampler's space) and categorical ones (smoothed one-hot distributions).
/// </summary>
internal sealed class ParzenEstimator
{
    private readonly IReadOnlyList<SearchParameter> _dims;
    private readonly double[][] _mus;      // [kernel][dim] (categorical: the observed index; prior: centre / -1)
    private readonly double[][] _sigmas;   // [kernel][dim] (numeric only)
    private readonly double[] _logWeights; // [kernel]
    private readonly double[] _weights;
    private readonly (double Low, double High)[] _bounds;
    private readonly double[][][] _categorical; // [kernel][dim] → probabilities (categorical dims only)
    private readonly double[][] _logNorm;   // [kernel][dim]: log(σ√(2π) · mass of the kernel inside the bounds)

    public ParzenEstimator(IReadOnlyList<SearchParameter> dims, double[][] observations, double priorWeight, bool multivariate)
    {
        _dims = dims;
        int n = observations.Length, d = dims.Count, k = n + 1;
        _bounds = dims.Select(p => p.Kind == ParameterKind.Categorical ? (0.0, p.Choices.Count - 1.0) : Samplers.Bounds(p)).ToArray();
        var w = TpeSampler.Weights(n).Append(priorWeight).ToArray();
        double total = w.Sum();
        _weights = w.Select(x => x / total).ToArray();
        _logWeights = _weights.Select(x => Math.Log(x)).ToArray();
        _mus = new double[k][];
        _sigmas = new double[k][];
        _categorical = new double[k][][];
        for (int i = 0; i < k; i++) (_mus[i], _sigmas[i], _categorical[i]) = (new double[d], new double[d], new double[d][]);
        for (int j = 0; j < d; j++)
        {
            var (lo, hi) = _bounds[j];
            if (dims[j].Kind == ParameterKind.Categorical)
            {
                int choices = dims[j].Choices.Count;
                for (int i = 0; i < k; i++)
                {
                    // Each observation: its category plus priorWeight spread evenly; the prior kernel: uniform.
                    var probs = Enumerable.Repeat(priorWeight / choices, choices).ToArray();
                    if (i < n) probs[(int)observations[i][j]] += 1;
                    double sum = probs.Sum();
                    _categorical[i][j] = probs.Select(p => p / sum).ToArray();
                }
                continue;
            }
            double range = hi - lo, prior = 0.5 * (lo + hi);
            double[] sigmas;
            if (multivariate) sigmas = Enumerable.Repeat(0.2 * Math.Pow(Math.Max(n, 1), -1.0 / (d + 4)) * range, n).ToArray();
            else
            {
                // Distance to the farther neighbour among the sorted observations and the prior's centre
                // (the range's ends count as neighbours only for the extreme points' inner side).
                var mus = observations.Select(o => o[j]).Append(prior).ToArray();
                var order = Enumerable.Range(0, mus.Length).OrderBy(i => mus[i]).ToArray();
                var sorted = order.Select(i => mus[i]).ToArray();
                var bySorted = new double[sorted.Length];
                for (int s = 0; s < sorted.Length; s++)
                {
                    double left = s > 0 ? sorted[s] - sorted[s - 1] : sorted.Length > 1 ? sorted[1] - sorted[0] : range;
                    double right = s < sorted.Length - 1 ? sorted[s + 1] - sorted[s] : sorted.Length > 1 ? sorted[s] - sorted[s - 1] : range;
                    bySorted[s] = Math.Max(left, right);
                }
                sigmas = new double[mus.Length];
                for (int s = 0; s < sorted.Length; s++) sigmas[order[s]] = bySorted[s];
                sigmas = sigmas.Take(n).ToArray();
            }
            double minSigma = range / Math.Min(100.0, 1.0 + k);
            for (int i = 0; i < n; i++)
            {
                _mus[i][j] = observations[i][j];
                _sigmas[i][j] = Math.Clamp(sigmas[i], minSigma, range);
            }
            _mus[n][j] = prior;
            _sigmas[n][j] = range;
        }
        _logNorm = new double[k][];
        for (int i = 0; i < k; i++)
        {
            _logNorm[i] = new double[d];
            for (int j = 0; j < d; j++)
            {
                if (dims[j].Kind == ParameterKind.Categorical) continue;
                var (lo, hi) = _bounds[j];
                double mu = _mus[i][j], sigma = _sigmas[i][j];
                double mass = Phi((hi - mu) / sigma) - Phi((lo - mu) / sigma);
                _logNorm[i][j] = Math.Log(sigma * Math.Sqrt(2 * Math.PI)) + Math.Log(Math.Max(mass, 1e-300));
            }
        }
    }

    public double[] Sample(Random rng)
    {
        double u = rng.NextDouble(), acc = 0;
        int kernel = _weights.Length - 1;
        for (int i = 0; i < _weights.Length; i++)
        {
            acc += _weights[i];
            if (u < acc) { kernel = i; break; }
        }
        var x = new double[_dims.Count];
        for (int j = 0; j < x.Length; j++)
        {
            if (_dims[j].Kind == ParameterKind.Categorical)
            {
                var probs = _categorical[kernel][j];
                double v = rng.NextDouble(), c = 0;
                x[j] = probs.Length - 1;
                for (int m = 0; m < probs.Length; m++)
                {
                    c += probs[m];
                    if (v < c) { x[j] = m; break; }
                }
                continue;
            }
            var (lo, hi) = _bounds[j];
            double draw = double.NaN;
            for (int attempt = 0; attempt < 100 && !(draw >= lo && draw <= hi); attempt++)
                draw = _mus[kernel][j] + _sigmas[kernel][j] * Normal(rng);
            x[j] = Math.Clamp(double.IsNaN(draw) ? _mus[kernel][j] : draw, lo, hi);
            // Numeric draws land on the values the parameter can take, so l and g are compared where trials are.
            x[j] = Samplers.ToSpace(_dims[j], Samplers.FromSpace(_dims[j], x[j]));
        }
        return x;
    }

    public double LogDensity(double[] x)
    {
        int k = _weights.Length;
        var terms = new double[k];
        for (int i = 0; i < k; i++)
        {
            double t = _logWeights[i];
            for (int j = 0; j < x.Length; j++)
            {
                if (_dims[j].Kind == ParameterKind.Categorical) t += Math.Log(_categorical[i][j][(int)x[j]]);
                else
                {
                    double z = (x[j] - _mus[i][j]) / _sigmas[i][j];
                    t += -0.5 * z * z - _logNorm[i][j];
                }
            }
            terms[i] = t;
        }
        double max = terms.Max();
        return max + Math.Log(terms.Sum(t => Math.Exp(t - max)));
    }

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Standard normal CDF through erfc (Numerical Recipes' Chebyshev fit, |error| &lt; 1.2e-7).</summary>
    internal static double Phi(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    private static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
