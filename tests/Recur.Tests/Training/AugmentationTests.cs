using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Schedules;
using Recur.Tensors;
using Recur.Tests.Cli;
using Recur.Training;
using Recur.Training.Augmentations;
using Recur.Training.Callbacks;

namespace Recur.Tests.Training;

/// <summary>Training-batch augmentations: what each does, that only training batches see them, and determinism.</summary>
public class AugmentationTests
{
    /// <summary>[B, T, F] numeric batch from a value function, right-padded with zeros past each length.</summary>
    private static SequenceBatch Numeric(int B, int T, int F, Func<int, int, int, float> value, int[]? lengths = null)
    {
        var values = new Tensor(B, T, F);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < (lengths?[b] ?? T); t++)
                for (int f = 0; f < F; f++) values.Data[(b * T + t) * F + f] = value(b, t, f);
        return new SequenceBatch(B, T, values, null) { Lengths = lengths };
    }

    private static float At(SequenceBatch batch, int b, int t, int f = 0) =>
        batch.Values!.Data[(b * batch.Steps + t) * batch.Values.Dim(2) + f];

    private static void AssertPaddingUntouched(SequenceBatch before, SequenceBatch after)
    {
        int F = before.Values?.Dim(2) ?? 1;
        for (int b = 0; b < before.Batch; b++)
            for (int t = before.Lengths?[b] ?? before.Steps; t < before.Steps; t++)
                for (int f = 0; f < F; f++)
                    if (before.Tokens is { } tokens) Assert.Equal(tokens[b * before.Steps + t], after.Tokens![b * before.Steps + t]);
                    else Assert.Equal(At(before, b, t, f), At(after, b, t, f));
    }

    [Fact]
    public void JitterAddsZeroMeanNoiseOfSigmaAtRealStepsOnly()
    {
        int[] lengths = [400, 250, 400, 10];
        var batch = Numeric(4, 400, 2, (b, t, f) => b + 0.01f * t - f, lengths);
        var copy = batch.Values!.Clone();
        var augmented = new Jitter(0.05).Apply(new(batch, null), new RecurRandom(3)).Inputs;

        Assert.Equal(copy.Data, batch.Values.Data); // the given batch is untouched
        var noise = new List<double>();
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < lengths[b]; t++)
                for (int f = 0; f < 2; f++) noise.Add(At(augmented, b, t, f) - At(batch, b, t, f));
        double mean = noise.Average(), std = Math.Sqrt(noise.Sum(d => (d - mean) * (d - mean)) / noise.Count);
        Assert.InRange(mean, -4 * 0.05 / Math.Sqrt(noise.Count), 4 * 0.05 / Math.Sqrt(noise.Count));
        Assert.InRange(std, 0.05 * 0.95, 0.05 * 1.05);
        AssertPaddingUntouched(batch, augmented);
        Assert.Equal(lengths, augmented.Lengths);
    }

    [Fact]
    public void ScalingMultipliesEachSequenceAndItsTargetsByOneFactor()
    {
        int B = 400, T = 6, F = 2, O = 3;
        var lengths = Enumerable.Range(0, B).Select(b => 1 + b % T).ToArray();
        var batch = Numeric(B, T, F, (b, t, f) => 1 + t + 10 * f, lengths);
        var targets = new Tensor(B, O);
        for (int i = 0; i < targets.Length; i++) targets.Data[i] = 2 + i % 5;
        var (augmented, scaledTargets) = new Scaling(0.2).Apply(new(batch, targets), new RecurRandom(4));

        var factors = new List<double>();
        for (int b = 0; b < B; b++)
        {
            double factor = At(augmented, b, 0) / At(batch, b, 0);
            factors.Add(factor);
            for (int t = 0; t < lengths[b]; t++)
                for (int f = 0; f < F; f++) Assert.Equal(At(batch, b, t, f) * factor, At(augmented, b, t, f), 1e-4);
            for (int o = 0; o < O; o++) Assert.Equal(targets.Data[b * O + o] * factor, scaledTargets!.Data[b * O + o], 1e-4);
        }
        double mean = factors.Average(), std = Math.Sqrt(factors.Sum(a => (a - mean) * (a - mean)) / B);
        Assert.InRange(mean, 0.96, 1.04);
        Assert.InRange(std, 0.17, 0.23);
        AssertPaddingUntouched(batch, augmented);
        Assert.Equal(2f, targets.Data[0]); // the given targets are untouched

        var (_, kept) = new Scaling(0.2, scaleTargets: false).Apply(new(batch, targets), new RecurRandom(4));
        Assert.Equal(targets.Data, kept!.Data);
    }

    [Fact]
    public void SlicingStretchesACropBackToTheFullLength()
    {
        int T = 21;
        int[] lengths = [21, 21, 11, 21];
        // A ramp per feature: t and 5 − 2t.
        var batch = Numeric(4, T, 2, (b, t, f) => f == 0 ? t : 5 - 2 * t, lengths);
        var random = new RecurRandom(11);
        for (int round = 0; round < 20; round++)
        {
            var augmented = new WindowSlicing(0.5).Apply(new(batch, null), random).Inputs;
            Assert.Equal(T, augmented.Steps);
            Assert.Equal(batch.Values!.Shape, augmented.Values!.Shape);
            for (int b = 0; b < 4; b++)
            {
                int L = lengths[b], crop = (int)Math.Round(0.5 * L);
                // First and last values are the crop's ends, inside the original sequence.
                float first = At(augmented, b, 0), last = At(augmented, b, L - 1);
                Assert.Equal(Math.Round(first), first, 1e-4);
                Assert.InRange(first, 0, L - crop);
                Assert.Equal(first + crop - 1, last, 1e-4);
                // A linear ramp stays a linear ramp, in every feature.
                for (int t = 0; t < L; t++)
                {
                    double expected = first + t * (crop - 1) / (double)(L - 1);
                    Assert.Equal(expected, At(augmented, b, t, 0), 1e-4);
                    Assert.Equal(5 - 2 * expected, At(augmented, b, t, 1), 1e-3);
                }
            }
            AssertPaddingUntouched(batch, augmented);
        }
        // r = 1 keeps every sequence as it is.
        Assert.Equal(batch.Values!.Data, new WindowSlicing(1).Apply(new(batch, null), random).Inputs.Values!.Data);
    }

    [Fact]
    public void WarpingKeepsTheLengthTheEndsAndConstants()
    {
        int T = 30;
        int[] lengths = [30, 30, 17];
        var constant = Numeric(3, T, 1, (_, _, _) => 2.5f, lengths);
        var ramp = Numeric(3, T, 1, (_, t, _) => t * t, lengths);
        var random = new RecurRandom(12);
        bool changed = false;
        for (int round = 0; round < 20; round++)
        {
            var flat = new WindowWarping(0.3).Apply(new(constant, null), random).Inputs;
            Assert.Equal(T, flat.Steps);
            Assert.Equal(constant.Values!.Data, flat.Values!.Data); // constant stays constant (and padding stays 0)

            var warped = new WindowWarping(0.3).Apply(new(ramp, null), random).Inputs;
            Assert.Equal(ramp.Values!.Shape, warped.Values!.Shape);
            for (int b = 0; b < 3; b++)
            {
                int L = lengths[b];
                Assert.Equal(0f, At(warped, b, 0));
                Assert.Equal((L - 1f) * (L - 1f), At(warped, b, L - 1), 1e-3);
                for (int t = 1; t < L; t++) Assert.True(At(warped, b, t) >= At(warped, b, t - 1), "time only moves forward");
                changed |= Enumerable.Range(0, L).Any(t => Math.Abs(At(warped, b, t) - At(ramp, b, t)) > 0.5);
            }
            AssertPaddingUntouched(ramp, warped);
        }
        Assert.True(changed, "warping changed nothing");
    }

    [Fact]
    public void TokenDropoutReplacesRealTokensWithTheUnknownIdAtRateP()
    {
        int B = 60, T = 50;
        var random = new RecurRandom(5);
        var lengths = Enumerable.Range(0, B).Select(_ => 1 + random.NextInt(T)).ToArray();
        var tokens = new int[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < lengths[b]; t++) tokens[b * T + t] = 2 + random.NextInt(40);
        var batch = new SequenceBatch(B, T, null, tokens) { Lengths = lengths };
        var original = (int[])tokens.Clone();
        var augmented = new TokenDropout(0.2).Apply(new(batch, null), new RecurRandom(6)).Inputs;

        Assert.Equal(original, tokens);
        int dropped = 0;
        for (int i = 0; i < tokens.Length; i++)
            if (augmented.Tokens![i] != tokens[i])
            {
                Assert.Equal(TokenDropout.Unknown, augmented.Tokens[i]);
                Assert.True(i % T < lengths[i / T], "a padded step was changed");
                dropped++;
            }
        int real = lengths.Sum();
        double rate = dropped / (double)real, tolerance = 4 * Math.Sqrt(0.2 * 0.8 / real);
        Assert.InRange(rate, 0.2 - tolerance, 0.2 + tolerance);
        AssertPaddingUntouched(batch, augmented);
    }

    [Fact]
    public void TheSameSeedGivesTheSameAugmentedBatches()
    {
        var pipeline = AugmentationPipeline.From(new AugmentConfig { Jitter = 0.1, Scaling = 0.2, Slicing = 0.8, Warping = 0.3 })!;
        Assert.Equal(["slicing", "warping", "scaling", "jitter"], pipeline.Augmentations.Select(a => a.Key));
        var batch = Numeric(8, 12, 2, (b, t, f) => MathF.Sin(b + 0.4f * t + f), [12, 5, 12, 12, 2, 7, 12, 1]);
        var targets = new Tensor(8, 2);
        TrainingBatch Run(ulong seed) => pipeline.Apply(new(batch, targets), new RecurRandom(seed));
        var (a, b, other) = (Run(1), Run(1), Run(2));
        Assert.Equal(a.Inputs.Values!.Data, b.Inputs.Values!.Data);
        Assert.Equal(a.Targets!.Data, b.Targets!.Data);
        Assert.NotEqual(a.Inputs.Values.Data, other.Inputs.Values!.Data);
        AssertPaddingUntouched(batch, a.Inputs);
    }

    private static SequenceDataset Sines(int count, ulong seed)
    {
        var random = new RecurRandom(seed);
        var values = new float[count * 10];
        var targets = new float[count];
        for (int n = 0; n < count; n++)
        {
            double phase = random.Uniform(0, 6.3);
            for (int t = 0; t < 10; t++) values[n * 10 + t] = (float)(Math.Sin(phase + 0.5 * t) + 0.2 * random.Normal());
            targets[n] = (float)Math.Sin(phase + 5);
        }
        return SequenceDataset.Regression(values, count, 10, 1, targets, 1);
    }

    private static readonly AugmentConfig All = new() { Jitter = 0.05, Scaling = 0.1, Slicing = 0.9, Warping = 0.2 };

    private static (SequenceModel model, TrainingHistory history) Fit(SequenceDataset train, SequenceDataset validation, AugmentConfig? augment,
        string? checkpoints = null, params TrainingCallback[] extra)
    {
        var model = new SequenceModel(new SequenceModelSpec { Cell = CellKind.Lstm, HiddenSize = 12, Dropout = 0.2 }, new RecurRandom(5));
        var history = Trainer.Fit(model, train, validation, new TrainingOptions
        {
            Epochs = 4, BatchSize = 16, Seed = 9, Augmentation = AugmentationPipeline.From(augment),
            CheckpointDirectory = checkpoints, CheckpointEveryBatches = 2, Callbacks = [new ReduceOnPlateau(patience: 0), .. extra],
        });
        return (model, history);
    }

    [Fact]
    public void TrainingWithAugmentationIsDeterministicAndLeavesTheDataAlone()
    {
        var (train, validation) = (Sines(80, 1), Sines(20, 2));
        var (values, targets) = ((float[])train.Values!.Clone(), (float[])train.Targets!.Clone());
        var (first, _) = Fit(train, validation, All);
        Assert.Equal(values, train.Values);
        Assert.Equal(targets, train.Targets);
        var (second, _) = Fit(Sines(80, 1), Sines(20, 2), All);
        Assert.Equal(TinyTraining.Bytes(first.Parameters), TinyTraining.Bytes(second.Parameters));
        var (plain, _) = Fit(Sines(80, 1), Sines(20, 2), null);
        Assert.NotEqual(TinyTraining.Bytes(first.Parameters), TinyTraining.Bytes(plain.Parameters));
    }

    [Fact]
    public void ValidationIsNeverAugmented()
    {
        var (train, validation) = (Sines(80, 1), Sines(20, 2));
        // A strong augmentation: were validation batches augmented, their loss would differ from the plain one.
        var (model, history) = Fit(train, validation, new AugmentConfig { Jitter = 1, Scaling = 0.5 });
        Assert.Equal(history.BestValidationLoss, Trainer.Loss(model, validation, 16));
        Assert.Equal(history.Epochs[history.BestEpoch - 1].ValidationLoss, Trainer.Loss(model, validation, 16));
    }

    /// <summary>A crash at a chosen global step, as a process kill would leave it.</summary>
    private sealed class CrashAt(long step) : TrainingCallback
    {
        public override void OnBatchBegin(TrainingContext context)
        {
            if (context.GlobalStep == step) throw new OperationCanceledException("simulated crash");
        }
    }

    [Theory]
    [InlineData(3)]   // mid-epoch (5 batches per epoch, checkpoints every 2)
    [InlineData(13)]  // mid-epoch, after an epoch boundary
    public void AugmentedTrainingResumesBitIdentical(long crashStep)
    {
        using var dir = new TempDirectory();
        var (reference, referenceHistory) = Fit(Sines(80, 1), Sines(20, 2), All);
        Assert.Throws<OperationCanceledException>(() => Fit(Sines(80, 1), Sines(20, 2), All, dir.Path, new CrashAt(crashStep)));
        var (resumed, resumedHistory) = Fit(Sines(80, 1), Sines(20, 2), All, dir.Path);
        Assert.Equal(TinyTraining.Bytes(reference.Parameters), TinyTraining.Bytes(resumed.Parameters));
        Assert.Equal(referenceHistory.Epochs.Select(e => e.TrainLoss), resumedHistory.Epochs.Select(e => e.TrainLoss));
    }

    [Fact]
    public void TokenDropoutTrainsATextClassifierWithoutTouchingItsData()
    {
        var random = new RecurRandom(2);
        int N = 40, T = 8;
        var lengths = Enumerable.Range(0, N).Select(_ => 2 + random.NextInt(T - 1)).ToArray();
        var tokens = new int[N * T];
        var labels = new int[N];
        for (int n = 0; n < N; n++)
        {
            labels[n] = random.NextInt(2);
            for (int t = 0; t < lengths[n]; t++) tokens[n * T + t] = 2 + labels[n] * 5 + random.NextInt(5);
        }
        var data = SequenceDataset.TokenClassification(tokens, N, T, labels, lengths);
        var original = (int[])tokens.Clone();
        var model = new SequenceModel(new SequenceModelSpec { VocabularySize = 12, EmbeddingSize = 4, HiddenSize = 6, OutputSize = 2 }, new RecurRandom(1));
        var history = Trainer.Fit(model, data, data, new TrainingOptions
        {
            Epochs = 2, BatchSize = 8, Augmentation = AugmentationPipeline.From(new AugmentConfig { TokenDropout = 0.3 }),
        });
        Assert.Equal(original, data.Tokens);
        Assert.All(history.Epochs, e => Assert.True(double.IsFinite(e.TrainLoss)));
    }

    [Fact]
    public void AugmentationsOfTheWrongKindFailNamingTheOption()
    {
        var numeric = Sines(20, 1);
        var text = SequenceDataset.TokenClassification([2, 3, 4, 5], 2, 2, [0, 1]);
        var perStep = SequenceDataset.PerStep(new float[2 * 3], null, 2, 3, 1, new int[6], null);
        void FitWith(SequenceDataset data, AugmentConfig augment) => Trainer.Fit(
            new SequenceModel(new SequenceModelSpec { HiddenSize = 4, OutputSize = 2, VocabularySize = data.Tokens is null ? 0 : 8, PerStep = data.IsPerStep }, new RecurRandom(1)),
            data, data, new TrainingOptions { Epochs = 1, Augmentation = AugmentationPipeline.From(augment) });

        Assert.Contains("token_dropout", Assert.Throws<InvalidInputException>(() => FitWith(numeric, new AugmentConfig { TokenDropout = 0.1 })).Message);
        Assert.Contains("jitter", Assert.Throws<InvalidInputException>(() => FitWith(text, new AugmentConfig { Jitter = 0.1 })).Message);
        Assert.Contains("slicing", Assert.Throws<InvalidInputException>(() => FitWith(perStep, new AugmentConfig { Slicing = 0.5 })).Message);
        Assert.Contains("warping", Assert.Throws<InvalidInputException>(() => FitWith(perStep, new AugmentConfig { Warping = 0.5 })).Message);
        FitWith(perStep, new AugmentConfig { Jitter = 0.1, Scaling = 0.1 }); // per-step values keep their steps under jitter and scaling
        var tokenBatch = new SequenceBatch(1, 2, null, [2, 3]);
        Assert.Contains("scaling", Assert.Throws<InvalidInputException>(() => new Scaling(0.1).Apply(new(tokenBatch, null), new RecurRandom(1))).Message);
    }

    [Theory]
    [InlineData("""{"augment": {"jitter": -0.1}}""", "jitter")]
    [InlineData("""{"augment": {"scaling": -1}}""", "scaling")]
    [InlineData("""{"augment": {"slicing": 0}}""", "slicing")]
    [InlineData("""{"augment": {"slicing": 1.5}}""", "slicing")]
    [InlineData("""{"augment": {"warping": 0}}""", "warping")]
    [InlineData("""{"augment": {"token_dropout": 1}}""", "token_dropout")]
    [InlineData("""{"augment": {"bogus": 1}}""", "bogus")]
    [InlineData("""{"augment": 5}""", "an object of augmentations")]
    public void BadConfigFailsNamingTheKey(string json, string key)
    {
        var message = Assert.Throws<InvalidInputException>(() => AugmentationPipeline.From(TrainConfig.FromJson(json, "config.json").Augment)).Message;
        Assert.Contains(key, message);
    }

    [Theory]
    [InlineData("bogus=1", "bogus")]
    [InlineData("jitter", "key=value")]
    [InlineData("jitter=abc", "expected a number")]
    [InlineData("jitter=0.1,jitter=0.2", "more than once")]
    [InlineData("slicing=2", "slicing")]
    [InlineData("token_dropout=-0.5", "token_dropout")]
    [InlineData("jitter=0.1,,scaling=0.2", "key=value")]
    public void BadFlagFailsNamingTheKey(string text, string fragment)
    {
        var message = Assert.Throws<InvalidInputException>(() => AugmentConfig.Parse(text)).Message;
        Assert.Contains("--augment", message);
        Assert.Contains(fragment, message);
    }

    [Fact]
    public void TheConfigKeyAndTheFlagReadTheSameAndRoundTrip()
    {
        var fromJson = TrainConfig.FromJson("""{"augment": {"jitter": 0.03, "scaling": 0.1, "slicing": 0.9, "warping": 0.2, "token_dropout": 0.1}}""", "c.json").Augment!;
        var fromFlag = AugmentConfig.Parse("jitter=0.03, scaling=0.1,slicing=0.9,warping=0.2,token-dropout=0.1");
        Assert.Equal(fromJson, fromFlag);
        string json = new TrainConfig { Augment = fromFlag }.ToJson();
        Assert.Contains("\"token_dropout\": 0.1", json);
        Assert.Equal(fromFlag, TrainConfig.FromJson(json, "again").Augment);
        Assert.Null(AugmentationPipeline.From(AugmentConfig.Parse("none")));
        Assert.Null(AugmentationPipeline.From(AugmentConfig.Parse("jitter=0,slicing=1")));
        Assert.Equal("jitter=0.03,scaling=0.1,slicing=0.9,warping=0.2,token_dropout=0.1", fromFlag.ToString());
    }
}
