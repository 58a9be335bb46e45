using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Schedules;
using Recur.Tests.Cli;
using Recur.Training;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Tests.Training;

/// <summary>A training interrupted at any batch and resumed from its checkpoints ends with the same bits.</summary>
public class ResumeTests
{
    private static SequenceDataset Data(int count, ulong seed)
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

    /// <summary>A crash at a chosen global step, as a process kill would leave it (no cleanup).</summary>
    private sealed class CrashAt(long step) : TrainingCallback
    {
        public override void OnBatchBegin(TrainingContext context)
        {
            if (context.GlobalStep == step) throw new OperationCanceledException("simulated crash");
        }
    }

    /// <summary>Dropout, early stopping and reduce-on-plateau all carry state that a resume must restore.</summary>
    private static (SequenceModel model, TrainingHistory history) Fit(string? checkpoints, params TrainingCallback[] extra)
    {
        var model = new SequenceModel(new SequenceModelSpec { Cell = CellKind.Lstm, HiddenSize = 12, Dropout = 0.2 }, new RecurRandom(5));
        var history = Trainer.Fit(model, Data(80, 1), Data(20, 2), new TrainingOptions
        {
            Epochs = 6, BatchSize = 16, Seed = 9, CheckpointDirectory = checkpoints, CheckpointEveryBatches = 2,
            Callbacks = [new EarlyStopping(patience: 10), new ReduceOnPlateau(patience: 0), .. extra],
        });
        return (model, history);
    }

    [Theory]
    [InlineData(3)]   // mid-epoch (5 batches per epoch, checkpoints every 2)
    [InlineData(10)]  // at an epoch boundary
    [InlineData(27)]  // late, after several checkpoints
    public void InterruptedAndResumedTrainingEndsBitIdentical(long crashStep)
    {
        using var dir = new TempDirectory();
        var (reference, referenceHistory) = Fit(null);

        Assert.Throws<OperationCanceledException>(() => Fit(dir.Path, new CrashAt(crashStep)));
        var (resumed, resumedHistory) = Fit(dir.Path);

        Assert.Equal(TinyTraining.Bytes(reference.Parameters), TinyTraining.Bytes(resumed.Parameters));
        Assert.Equal(referenceHistory.Epochs.Select(e => e.ValidationLoss), resumedHistory.Epochs.Select(e => e.ValidationLoss));
        Assert.Equal(referenceHistory.BestEpoch, resumedHistory.BestEpoch);
    }

    /// <summary>Stateful training over token streams: 3 streams, 15 windows per epoch, state carried between windows.</summary>
    private static (SequenceModel model, TrainingHistory history) FitStateful(string? checkpoints, params TrainingCallback[] extra)
    {
        var random = new RecurRandom(3);
        var ids = Enumerable.Range(0, 3 * 151).Select(i => i % 7 == 0 ? 2 : random.NextDouble() < 0.5 ? 3 : 4).ToArray();
        var train = SequenceDataset.TokenStreams(ids, streams: 3, window: 10);
        var validation = SequenceDataset.TokenStreams(ids[..60], streams: 1, window: 10);
        var spec = new SequenceModelSpec { Cell = CellKind.Lstm, HiddenSize = 12, Layers = 2, Dropout = 0.2, OutputSize = 5, PerStep = true, VocabularySize = 5, EmbeddingSize = 6 };
        var model = new SequenceModel(spec, new RecurRandom(5));
        var history = Trainer.Fit(model, train, validation, new TrainingOptions
        {
            Epochs = 3, Seed = 9, Stateful = true, CheckpointDirectory = checkpoints, CheckpointEveryBatches = 4,
            Callbacks = [new ReduceOnPlateau(patience: 0), .. extra],
        });
        return (model, history);
    }

    [Theory]
    [InlineData(6)]   // mid-epoch, after the checkpoint at batch 4: the carried state comes from the checkpoint
    [InlineData(15)]  // the first batch of epoch 2 (state reset)
    [InlineData(29)]  // late in epoch 2
    public void InterruptedAndResumedStatefulTrainingEndsBitIdentical(long crashStep)
    {
        using var dir = new TempDirectory();
        var (reference, referenceHistory) = FitStateful(null);

        Assert.Throws<OperationCanceledException>(() => FitStateful(dir.Path, new CrashAt(crashStep)));
        var (resumed, resumedHistory) = FitStateful(dir.Path);

        Assert.Equal(TinyTraining.Bytes(reference.Parameters), TinyTraining.Bytes(resumed.Parameters));
        Assert.Equal(referenceHistory.Epochs.Select(e => e.TrainLoss), resumedHistory.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(referenceHistory.Epochs.Select(e => e.ValidationLoss), resumedHistory.Epochs.Select(e => e.ValidationLoss));
        Assert.Equal(referenceHistory.Epochs.Select(e => e.WorkspacePeakBytes), resumedHistory.Epochs.Select(e => e.WorkspacePeakBytes));
    }

    [Fact]
    public void AStatefulCheckpointHoldsTheCarriedState()
    {
        using var dir = new TempDirectory();
        Assert.Throws<OperationCanceledException>(() => FitStateful(dir.Path, new CrashAt(6)));
        var data = new CheckpointStore(dir.Path).LoadLatest(TextWriter.Null)!;
        Assert.Equal("4", data.Value("next_batch"));
        Assert.Equal(2 * 3 * 12, data.Tensor("carried.hidden").Length); // [L, streams, H]
        Assert.Equal(2 * 3 * 12, data.Tensor("carried.cell").Length);
        Assert.Contains(data.Tensor("carried.hidden"), v => v != 0);
    }

    [Fact]
    public void ACorruptLastCheckpointIsSkippedForThePreviousOne()
    {
        using var dir = new TempDirectory();
        var (reference, _) = Fit(null);
        Assert.Throws<OperationCanceledException>(() => Fit(dir.Path, new CrashAt(17)));
        string last = Path.Combine(dir.Path, CheckpointStore.Last);
        var bytes = File.ReadAllBytes(last);
        File.WriteAllBytes(last, bytes[..(bytes.Length / 2)]); // torn write
        var log = new StringWriter();
        var model = new SequenceModel(new SequenceModelSpec { Cell = CellKind.Lstm, HiddenSize = 12, Dropout = 0.2 }, new RecurRandom(5));
        Trainer.Fit(model, Data(80, 1), Data(20, 2), new TrainingOptions
        {
            Epochs = 6, BatchSize = 16, Seed = 9, CheckpointDirectory = dir.Path, CheckpointEveryBatches = 2,
            Callbacks = [new EarlyStopping(patience: 10), new ReduceOnPlateau(patience: 0)],
        }, log);
        Assert.Contains("last.ckpt is unusable", log.ToString());
        Assert.Equal(TinyTraining.Bytes(reference.Parameters), TinyTraining.Bytes(model.Parameters));
    }

    [Fact]
    public void AFlippedByteFailsTheChecksum()
    {
        using var dir = new TempDirectory();
        var store = new CheckpointStore(dir.Path);
        var data = new CheckpointData();
        data.Values["epoch"] = "3";
        data.Tensors["w"] = [1f, 2f, 3f];
        store.Save(data);
        var path = Path.Combine(dir.Path, CheckpointStore.Last);
        var bytes = File.ReadAllBytes(path);
        bytes[^2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var log = new StringWriter();
        Assert.Null(store.LoadLatest(log));
        Assert.Contains("checksum", log.ToString());
    }

    [Fact]
    public void ACompletedTrainingReloadsWithItsGradientFlowHistory()
    {
        using var dir = new TempDirectory();
        var first = new GradientFlowMonitor();
        Fit(dir.Path, first);
        var again = new GradientFlowMonitor();
        var (model, history) = Fit(dir.Path, again);
        Assert.Equal(6, history.Epochs.Count);
        Assert.Equal(first.Epochs.Count, again.Epochs.Count);
        Assert.Equal(first.Epochs[^1].GradientNorms, again.Epochs[^1].GradientNorms);
    }

    [Fact]
    public void NonFiniteLossesInTheHistorySurviveACheckpoint()
    {
        using var dir = new TempDirectory();
        var data = Data(40, 1);
        var validation = Data(10, 2);
        validation.Targets![0] = 1e30f; // validation loss overflows to infinity every epoch
        var model = new SequenceModel(new SequenceModelSpec { HiddenSize = 8 }, new RecurRandom(5));
        var history = Trainer.Fit(model, data, validation, new TrainingOptions { Epochs = 2, BatchSize = 16, CheckpointDirectory = dir.Path });
        Assert.True(double.IsInfinity(history.Epochs[0].ValidationLoss));
        var reloaded = Trainer.Fit(new SequenceModel(new SequenceModelSpec { HiddenSize = 8 }, new RecurRandom(5)), data, validation,
            new TrainingOptions { Epochs = 2, BatchSize = 16, CheckpointDirectory = dir.Path });
        Assert.True(double.IsInfinity(reloaded.Epochs[1].ValidationLoss));
    }
}
