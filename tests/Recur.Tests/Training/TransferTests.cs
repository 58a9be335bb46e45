using System.Text.Json;
using Recur.Data;
using Recur.Layers;
using Recur.Models;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tests.Cli;
using Recur.Training;
using Recur.Training.Callbacks;

namespace Recur.Tests.Training;

/// <summary>--init-from (name/shape matching, vocabularies by token), freezing, gradual unfreezing and discriminative rates.</summary>
public class TransferTests
{
    /// <summary>Saves a character language model over <paramref name="characters"/> and opens it as a pretrained model.</summary>
    private static PretrainedModel CharLanguageModel(TempDirectory dir, string characters, int hidden = 8, int layers = 1, CellKind cell = CellKind.Lstm)
    {
        var vocabulary = new CharacterVocabulary(characters, 10);
        var spec = new SequenceModelSpec
        {
            Cell = cell, HiddenSize = hidden, Layers = layers, VocabularySize = vocabulary.Size, EmbeddingSize = 4,
            OutputSize = vocabulary.Size, PerStep = true,
        };
        var model = new SequenceModel(spec, new RecurRandom(7));
        var state = new LanguageModelState { Characters = vocabulary.Characters, Bptt = 10, Stateful = true, UnigramCounts = new long[vocabulary.Size] };
        string path = dir.File("lm.safetensors");
        new ModelFile(model, new TrainConfig { Task = "lm" }, JsonSerializer.Serialize(state), "{}").Save(path);
        return PretrainedModel.Open(path);
    }

    private static SequenceModel Classifier(int vocabulary, int hidden = 8, int layers = 1, CellKind cell = CellKind.Lstm, ulong seed = 3) =>
        new(new SequenceModelSpec { Cell = cell, HiddenSize = hidden, Layers = layers, VocabularySize = vocabulary, EmbeddingSize = 4, OutputSize = 2 }, new RecurRandom(seed));

    private static float[] Row(SequenceModel model, string name, int row)
    {
        var t = model.StateDict()[name];
        int width = t.Length / t.Shape[0];
        return t.Data.AsSpan(row * width, width).ToArray();
    }

    [Fact]
    public void TensorsLoadByNameAndShapeAndTheReportSaysWhatWasLoadedSkippedAndInitialised()
    {
        using var dir = new TempDirectory();
        var pretrained = CharLanguageModel(dir, "abc", layers: 2);
        var vocabulary = PretrainedModel.Characters(pretrained, ["abc"], 10, TextWriter.Null);
        var model = Classifier(vocabulary.Size, layers: 1);
        var report = pretrained.Apply(model, "classify", vocabulary, ["neg", "pos"], TextWriter.Null);

        Assert.Equal(["embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0", "encoder.bias_hh_l0"], report.Loaded);
        Assert.Equal(["head.weight", "head.bias"], report.Initialised);
        Assert.Contains(report.Skipped, s => s.Name == "head.weight" && s.Reason.Contains("task lm there and classify here"));
        Assert.Contains(report.Skipped, s => s.Name == "encoder.weight_ih_l1" && s.Reason == "absent from this model");
        var old = pretrained.File.Model.StateDict();
        Assert.Equal(old["encoder.weight_hh_l0"].Data, model.StateDict()["encoder.weight_hh_l0"].Data);

        // A different hidden size: the recurrent weights are skipped for their shape, the embedding still loads.
        var wider = Classifier(vocabulary.Size, hidden: 6);
        var report2 = pretrained.Apply(wider, "classify", vocabulary, ["neg", "pos"], TextWriter.Null);
        Assert.Equal(["embedding.weight"], report2.Loaded);
        var skip = Assert.Single(report2.Skipped, s => s.Name == "encoder.weight_hh_l0");
        Assert.Contains("shape [32, 8] there, [24, 6] here", skip.Reason);
        Assert.Contains("encoder.weight_hh_l0", report2.Initialised);

        var json = report.ToJson();
        Assert.Equal(5, json["loaded"]!.AsArray().Count);
        Assert.Equal("absent from this model", json["skipped"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "encoder.bias_hh_l1")!["reason"]!.GetValue<string>());
        Assert.Equal(2, json["initialised"]!.AsArray().Count);
    }

    [Fact]
    public void AnotherCellTypeOrNothingThatFitsIsBadInput()
    {
        using var dir = new TempDirectory();
        var pretrained = CharLanguageModel(dir, "abc");
        var vocabulary = PretrainedModel.Characters(pretrained, ["abc"], 10, TextWriter.Null);
        var gru = Classifier(vocabulary.Size, cell: CellKind.Gru);
        var e = Assert.ThrowsAny<InvalidInputException>(() => pretrained.Apply(gru, "classify", vocabulary, ["a", "b"], TextWriter.Null));
        Assert.Contains("LSTM model and this run builds a GRU", e.Message);

        var numeric = new SequenceModel(new SequenceModelSpec { HiddenSize = 5, OutputSize = 1 }, new RecurRandom(1));
        e = Assert.ThrowsAny<InvalidInputException>(() => pretrained.Apply(numeric, "forecast", null, null, TextWriter.Null));
        Assert.Contains("nothing in", e.Message);

        File.WriteAllText(dir.File("junk.safetensors"), "not a model");
        Assert.StartsWith("--init-from:", Assert.ThrowsAny<InvalidInputException>(() => PretrainedModel.Open(dir.File("junk.safetensors"))).Message);
        Assert.Contains("does not exist", Assert.ThrowsAny<InvalidInputException>(() => PretrainedModel.Open(dir.File("none.safetensors"))).Message);
    }

    [Fact]
    public void ExtendedVocabularyCopiesEmbeddingRowsByTokenNotByIndex()
    {
        using var dir = new TempDirectory();
        // Pretrained ids: b=2, c=3, x=4. New data adds 'a', which sorts first: a=2, b=3, c=4, x=5.
        var pretrained = CharLanguageModel(dir, "bcx");
        var vocabulary = PretrainedModel.Characters(pretrained, ["abc", "cab"], 10, TextWriter.Null);
        Assert.Equal("abcx", vocabulary.Characters);
        var model = Classifier(vocabulary.Size);
        var fresh = Row(model, "embedding.weight", 2);
        var report = pretrained.Apply(model, "classify", vocabulary, ["n", "p"], TextWriter.Null);

        var old = pretrained.File.Model;
        Assert.Equal(Row(old, "embedding.weight", 2), Row(model, "embedding.weight", 3)); // b
        Assert.Equal(Row(old, "embedding.weight", 3), Row(model, "embedding.weight", 4)); // c
        Assert.Equal(Row(old, "embedding.weight", 4), Row(model, "embedding.weight", 5)); // x
        Assert.Equal(Row(old, "embedding.weight", 0), Row(model, "embedding.weight", 0)); // padding
        Assert.Equal(Row(old, "embedding.weight", 1), Row(model, "embedding.weight", 1)); // unknown
        Assert.Equal(fresh, Row(model, "embedding.weight", 2)); // a: new, keeps its fresh initialisation
        Assert.Equal((5, 1), report.TokenRows["embedding.weight"]);

        // Words: the pretrained words in their order, then the new ones.
        var words = PretrainedModel.Words(null, WordTokenizer.Train(["dog the dog the"], 5), TextWriter.Null);
        Assert.Equal(["dog", "the"], words.Words);
    }

    [Fact]
    public void WordVocabularyKeepsThePretrainedWordsFirstAndAppendsNewOnes()
    {
        using var dir = new TempDirectory();
        var tokenizer = new WordTokenizer(["the", "cat"], 5, lowerCase: true);
        var model = new SequenceModel(new SequenceModelSpec { HiddenSize = 6, VocabularySize = tokenizer.Size, EmbeddingSize = 3, OutputSize = 2 }, new RecurRandom(2));
        var state = new ClassifyState { LabelColumn = "label", TextColumn = "text", Classes = ["a", "b"], Tokenizer = "word", Words = ["the", "cat"], VocabularySize = tokenizer.Size, MaxLength = 5 };
        new ModelFile(model, new TrainConfig { Task = "classify" }, JsonSerializer.Serialize(state), "{}").Save(dir.File("m.safetensors"));
        var pretrained = PretrainedModel.Open(dir.File("m.safetensors"));

        var words = PretrainedModel.Words(pretrained, WordTokenizer.Train(["dog the dog the"], 5), TextWriter.Null);
        Assert.Equal(["the", "cat", "dog"], words.Words);
        var next = new SequenceModel(new SequenceModelSpec { HiddenSize = 6, VocabularySize = words.Size, EmbeddingSize = 3, OutputSize = 2 }, new RecurRandom(4));
        var report = pretrained.Apply(next, "classify", words, ["b", "a"], TextWriter.Null);
        Assert.Equal(Row(model, "embedding.weight", 3), Row(next, "embedding.weight", 3)); // cat
        // Same task: the head's rows follow their classes (b was row 1, is row 0 now).
        Assert.Equal(Row(model, "head.weight", 1), Row(next, "head.weight", 0));
        Assert.Equal(model.StateDict()["head.bias"].Data[0], next.StateDict()["head.bias"].Data[1]);
        Assert.Contains("head.weight", report.Loaded);
    }

    private static SequenceDataset Tokens(int count, ulong seed)
    {
        var random = new RecurRandom(seed);
        var tokens = new int[count * 8];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            labels[n] = random.NextDouble() < 0.5 ? 0 : 1;
            for (int t = 0; t < 8; t++) tokens[n * 8 + t] = 2 + (random.NextDouble() < 0.7 ? labels[n] * 2 : 1) + (int)(random.NextDouble() * 2);
        }
        return SequenceDataset.TokenClassification(tokens, count, 8, labels);
    }

    private static SequenceModel TokenModel(int layers = 1) =>
        new(new SequenceModelSpec { HiddenSize = 6, Layers = layers, VocabularySize = 6, EmbeddingSize = 4, OutputSize = 2 }, new RecurRandom(11));

    /// <summary>Snapshots of the weights after every epoch.</summary>
    private sealed class EpochWeights : TrainingCallback
    {
        public List<Dictionary<string, float[]>> After { get; } = [];

        public override void OnEpochEnd(TrainingContext context, EpochRecord epoch) =>
            After.Add(context.Model.Parameters.ToDictionary(p => p.Name, p => (float[])p.Value.Data.Clone()));
    }

    [Theory]
    [InlineData("adamw", null, 0.0)] // decoupled weight decay must not touch frozen weights either
    [InlineData("sgd", null, 0.0)]
    [InlineData("sgd", "decoupled", 0.5)] // the trainer's own decay and max-norm constraint skip frozen groups too
    [InlineData("adam", "l2", 0.5)]
    public void FrozenParametersAreBitIdenticalAfterTrainingWhileOthersChange(string optimizer, string? decay, double maxNorm)
    {
        var model = TokenModel();
        var before = model.Parameters.ToDictionary(p => p.Name, p => (float[])p.Value.Data.Clone());
        var config = new TrainConfig { Freeze = "embedding,encoder.weight_hh" };
        var options = FineTuning.Configure(new TrainingOptions
        {
            Epochs = 3, BatchSize = 8, Optimizer = optimizer, Seed = 1,
            WeightDecay = decay is null ? null : 0.05, WeightDecayMode = decay, MaxNorm = maxNorm,
        },
            FineTuning.From(config, model, null), TextWriter.Null);
        Trainer.Fit(model, Tokens(48, 1), Tokens(16, 2), options);
        foreach (var p in model.Parameters)
        {
            bool frozen = p.Name is "embedding.weight" or "encoder.weight_hh_l0";
            if (frozen) Assert.Equal(before[p.Name], p.Value.Data);
            else Assert.NotEqual(before[p.Name], p.Value.Data);
        }
    }

    [Fact]
    public void GradualUnfreezingReleasesOneGroupFromTheTopEveryNEpochs()
    {
        var model = TokenModel(layers: 2);
        var schedule = FineTuning.From(new TrainConfig { UnfreezeEvery = 2 }, model, null)!;
        Assert.Equal(["head", "encoder layer 1", "encoder layer 0", "embedding"], schedule.Groups.Select(g => g.Group));
        string[] order = ["head.weight", "encoder.weight_hh_l1", "encoder.weight_hh_l0", "embedding.weight"];
        // Epochs 1–2: head only; 3–4: + layer 1; 5–6: + layer 0; 7 on: + embedding.
        int[] trainableFrom = [1, 3, 5, 7];
        for (int epoch = 1; epoch <= 8; epoch++)
            for (int k = 0; k < order.Length; k++)
                Assert.Equal(epoch < trainableFrom[k], schedule.IsFrozen(order[k], epoch));
        Assert.Equal(["encoder layer 1"], schedule.UnfrozenAt(3));
        Assert.Empty(schedule.UnfrozenAt(4));

        var weights = new EpochWeights();
        var before = model.Parameters.ToDictionary(p => p.Name, p => (float[])p.Value.Data.Clone());
        var options = FineTuning.Configure(new TrainingOptions { Epochs = 7, BatchSize = 8, Seed = 1, Callbacks = [weights] }, schedule, TextWriter.Null);
        Trainer.Fit(model, Tokens(32, 1), Tokens(16, 2), options);
        for (int epoch = 1; epoch <= 7; epoch++)
            for (int k = 0; k < order.Length; k++)
            {
                bool changed = !before[order[k]].AsSpan().SequenceEqual(weights.After[epoch - 1][order[k]]);
                Assert.True(changed == (epoch >= trainableFrom[k]), $"{order[k]} after epoch {epoch}: changed {changed}");
            }
    }

    [Fact]
    public void OneSgdStepMovesPretrainedWeightsByTheFactorTimesAsFarAsFreshOnes()
    {
        const double factor = 0.25, lr = 0.1;
        var model = TokenModel();
        var pretrainedNames = new[] { "embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0", "encoder.bias_hh_l0" };
        var schedule = FineTuning.From(new TrainConfig { PretrainedLrFactor = factor }, model, new TransferReport("x", pretrainedNames, [], ["head.weight", "head.bias"]))!;
        var optimizer = schedule.CreateOptimizer(model, new TrainingOptions { Optimizer = "sgd", LearningRate = lr });
        var before = model.Parameters.ToDictionary(p => p.Name, p => (float[])p.Value.Data.Clone());
        foreach (var p in model.Parameters) p.Grad.Data.AsSpan().Fill(0.5f); // the same gradient everywhere
        optimizer.Step();
        foreach (var p in model.Parameters)
        {
            double expected = lr * 0.5 * (pretrainedNames.Contains(p.Name) ? factor : 1);
            for (int i = 0; i < p.Value.Length; i++)
                Assert.Equal(expected, before[p.Name][i] - p.Value.Data[i], 1e-6);
        }
    }

    /// <summary>A crash at a chosen global step (no cleanup).</summary>
    private sealed class CrashAt(long step) : TrainingCallback
    {
        public override void OnBatchBegin(TrainingContext context)
        {
            if (context.GlobalStep == step) throw new OperationCanceledException("simulated crash");
        }
    }

    private static SequenceModel FitFrozen(string? checkpoints, params TrainingCallback[] extra)
    {
        var model = TokenModel(layers: 2);
        var schedule = FineTuning.From(new TrainConfig { UnfreezeEvery = 1, PretrainedLrFactor = 0.3 }, model,
            new TransferReport("x", ["encoder.weight_ih_l0", "encoder.weight_hh_l0", "embedding.weight"], [], []));
        var options = FineTuning.Configure(new TrainingOptions
        {
            Epochs = 4, BatchSize = 8, Seed = 9, CheckpointDirectory = checkpoints, CheckpointEveryBatches = 2, Callbacks = extra,
        }, schedule, TextWriter.Null);
        Trainer.Fit(model, Tokens(40, 1), Tokens(16, 2), options);
        return model;
    }

    [Theory]
    [InlineData(3)]  // mid-epoch 1, everything but the head frozen
    [InlineData(12)] // mid-epoch 3, after two unfreezings
    public void ResumingMidTrainingWithFreezingIsBitIdentical(long crashStep)
    {
        using var dir = new TempDirectory();
        var reference = FitFrozen(null);
        Assert.Throws<OperationCanceledException>(() => FitFrozen(dir.Path, new CrashAt(crashStep)));
        var resumed = FitFrozen(dir.Path);
        Assert.Equal(TinyTraining.Bytes(reference.Parameters), TinyTraining.Bytes(resumed.Parameters));
    }

    [Fact]
    public void GroupOptimizerStateRoundTripsAndRejectsAnotherLayout()
    {
        var model = TokenModel();
        var schedule = FineTuning.From(new TrainConfig { Freeze = "all-but-head" }, model, null)!;
        var optimizer = schedule.CreateOptimizer(model, new TrainingOptions { Optimizer = "adam" });
        foreach (var p in model.Parameters) p.Grad.Data.AsSpan().Fill(0.1f);
        optimizer.Step();
        var state = optimizer.ExportState();
        var copy = schedule.CreateOptimizer(model, new TrainingOptions { Optimizer = "adam" });
        copy.ImportState(state);
        Assert.Equal(JsonSerializer.Serialize(state.Scalars), JsonSerializer.Serialize(copy.ExportState().Scalars));
        var plain = new Adam(model.Parameters, 1e-3);
        Assert.ThrowsAny<ArgumentException>(() => plain.ImportState(state));
    }

    [Fact]
    public void FreezeNamingNoParameterIsBadInput()
    {
        var e = Assert.ThrowsAny<InvalidInputException>(() => FineTuning.From(new TrainConfig { Freeze = "decoder" }, TokenModel(), null));
        Assert.Contains("'decoder' is no prefix of a parameter name", e.Message);
        Assert.Null(FineTuning.From(new TrainConfig(), TokenModel(), null));
    }
}
