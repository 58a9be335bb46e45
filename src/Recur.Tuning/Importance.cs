namespace Recur.Tuning;

/// <summary>
/// Parameter importance, fANOVA-style: a random forest (64 regression trees on bootstrap samples, depth ≤ 8,
/// half the parameters tried per split) is fitted to the complete trials (parameters → value; log ranges in log
/// space, categorical as choice index, an inactive conditional parameter as a value below its range). For each
/// parameter k its main effect f_k(v) = mean over trials of the forest's prediction with x_k set to v (the
/// forest's marginal over the other parameters, taken under their observed distribution); the importance of k is
/// Var(f_k) over k's observed values, as a share of the sum over parameters. This is the first-order term of a
/// functional ANOVA decomposition, estimated by partial dependence rather than fANOVA's exact integration over
/// the trees' partitions.
/// </summary>
public static class Importance
{
    public static IReadOnlyList<(string Name, double Share)> Rank(SearchSpace space, IReadOnlyList<TrialRecord> trials, int seed = 0)
    {
        var parameters = space.Parameters.Where(p => p.Kind != ParameterKind.Fixed).ToList();
        var data = trials.Where(t => t.State == TrialState.Complete && t.Value is double v && double.IsFinite(v)).ToList();
        if (parameters.Count == 0 || data.Count < 2) return [];
        var x = data.Select(t => parameters.Select(p => Encode(p, t.Params)).ToArray()).ToArray();
        var y = data.Select(t => t.Value!.Value).ToArray();
        var forest = Forest.Fit(x, y, trees: 64, maxDepth: 8, minLeaf: 2, new Random(seed));
        var variances = new double[parameters.Count];
        for (int k = 0; k < parameters.Count; k++)
        {
            var values = x.Select(row => row[k]).ToArray();
            var effects = new double[values.Length];
            var cache = new Dictionary<double, double>();
            for (int i = 0; i < values.Length; i++)
            {
                if (!cache.TryGetValue(values[i], out double effect))
                {
                    double sum = 0;
                    foreach (var row in x)
                    {
                        var probe = (double[])row.Clone();
                        probe[k] = values[i];
                        sum += forest.Predict(probe);
                    }
                    cache[values[i]] = effect = sum / x.Length;
                }
                effects[i] = effect;
            }
            double mean = effects.Average();
            variances[k] = effects.Sum(e => (e - mean) * (e - mean)) / effects.Length;
        }
        double total = variances.Sum();
        return parameters.Select((p, k) => (p.Name, total > 0 ? variances[k] / total : 0.0)).OrderByDescending(r => r.Item2).ToList();
    }

    private static double Encode(SearchParameter p, IReadOnlyDictionary<string, double> values)
    {
        if (!values.TryGetValue(p.Name, out double v))
            return p.Kind == ParameterKind.Categorical ? -1 : Samplers.Bounds(p).Low - 1;
        return p.Kind == ParameterKind.Categorical ? v : Samplers.ToSpace(p, v);
    }

    private sealed class Forest
    {
        private readonly List<Node> _trees = [];

        public static Forest Fit(double[][] x, double[] y, int trees, int maxDepth, int minLeaf, Random rng)
        {
            var forest = new Forest();
            int d = x[0].Length, features = Math.Max(1, (int)Math.Ceiling(d / 2.0));
            for (int t = 0; t < trees; t++)
            {
                var sample = Enumerable.Range(0, x.Length).Select(_ => rng.Next(x.Length)).ToArray();
                forest._trees.Add(Grow(x, y, sample, 0, maxDepth, minLeaf, features, rng));
            }
            return forest;
        }

        public double Predict(double[] row) => _trees.Average(t => t.Predict(row));

        private static Node Grow(double[][] x, double[] y, int[] rows, int depth, int maxDepth, int minLeaf, int features, Random rng)
        {
            double mean = rows.Average(i => y[i]);
            if (depth >= maxDepth || rows.Length < 2 * minLeaf) return new Node { Value = mean };
            int d = x[0].Length;
            var candidates = Enumerable.Range(0, d).OrderBy(_ => rng.Next()).Take(features);
            (int Feature, double Threshold, double Score) best = (-1, 0, double.PositiveInfinity);
            foreach (int f in candidates)
            {
                var sorted = rows.OrderBy(i => x[i][f]).ToArray();
                double total = sorted.Sum(i => y[i]), totalSq = sorted.Sum(i => y[i] * y[i]), left = 0, leftSq = 0;
                for (int s = 0; s < sorted.Length - 1; s++)
                {
                    double v = y[sorted[s]];
                    left += v;
                    leftSq += v * v;
                    int nl = s + 1, nr = sorted.Length - nl;
                    if (nl < minLeaf || nr < minLeaf || x[sorted[s]][f] == x[sorted[s + 1]][f]) continue;
                    double right = total - left, rightSq = totalSq - leftSq;
                    double sse = leftSq - left * left / nl + rightSq - right * right / nr;
                    if (sse < best.Score) best = (f, 0.5 * (x[sorted[s]][f] + x[sorted[s + 1]][f]), sse);
                }
            }
            if (best.Feature < 0) return new Node { Value = mean };
            var lo = rows.Where(i => x[i][best.Feature] <= best.Threshold).ToArray();
            var hi = rows.Where(i => x[i][best.Feature] > best.Threshold).ToArray();
            return new Node
            {
                Value = mean, Feature = best.Feature, Threshold = best.Threshold,
                Left = Grow(x, y, lo, depth + 1, maxDepth, minLeaf, features, rng),
                Right = Grow(x, y, hi, depth + 1, maxDepth, minLeaf, features, rng),
            };
        }

        private sealed class Node
        {
            public double Value;
            public int Feature = -1;
            public double Threshold;
            public Node? Left, Right;

            public double Predict(double[] row)
            {
                var node = this;
                while (node.Feature >= 0) node = row[node.Feature] <= node.Threshold ? node.Left! : node.Right!;
                return node.Value;
            }
        }
    }
}
