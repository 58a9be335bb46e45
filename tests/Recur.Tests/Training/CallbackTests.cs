using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Schedules;
using Recur.Training;
using Recur.Training.Callbacks;

namespace Recur.Tests.Training;

/// <summary>Early stopping, the numerical guard and learning-rate schedules inside <see cref="Trainer.Fit"/>.</summary>
public class CallbackTests
{
    /// <summary>Noisy sine windows: [N, 12, 1] → next value.</summary>
    private static SequenceDataset Sine(int count, ulong seed)
    {
        var random = new RecurRandom(seed);
        var values = new float[count * 12];
        var targets = new float[count];
        for (int n = 0; n < count; n++)
        {
            double phase = random.Uniform(0, 6.3);
            for (int t = 0; t < 12; t++) values[n * 12 + t] = (float)(Math.Sin(phase + 0.4 * t) + 0.3 * random.Normal());
            targets[n] = (float)Math.Sin(phase + 0.4 * 12);
        }
        return SequenceDataset.Regression(values, count, 12, 1, targets, 1);
    }

    private static SequenceModel Model() => new(new SequenceModelSpec { Cell = CellKind.Gru, HiddenSize = 16 }, new RecurRandom(1));

    [Fact]
    public void EarlyStoppingStopsAndTheKeptWeightsScoreTheBestEpoch()
    {
        var model = Model();
        var validation = Sine(40, 2);
        var stopper = new EarlyStopping(patience: 2);
        // A learning rate far too high for SGD with momentum makes validation loss bounce, so patience runs out.
        var history = Trainer.Fit(model, Sine(64, 1), validation, new TrainingOptions
        {
            Epochs = 60, BatchSize = 8, LearningRate = 0.3, Optimizer = "sgd", Clip = 0, Callbacks = [stopper],
        });
        Assert.NotNull(history.StopReason);
        Assert.Contains("early stopping", history.StopReason);
        Assert.True(history.Epochs.Count < 60);
        Assert.Equal(history.BestEpoch, stopper.BestEpoch);
        double best = history.Epochs.Min(e => e.ValidationLoss);
        Assert.Equal(best, history.Epochs[history.BestEpoch - 1].ValidationLoss);
        Assert.Equal(best, Trainer.Loss(model, validation, 8));
    }

    /// <summary>A test hook: turns one gradient element into NaN on chosen global steps.</summary>
    private sealed class PoisonGradients(Func<long, bool> when) : TrainingCallback
    {
        public override void OnAfterBackward(TrainingContext context, double loss)
        {
            if (when(context.GlobalStep)) context.Model.Parameters[0].Grad.Data[0] = float.NaN;
        }
    }

    [Fact]
    public void NonFiniteStepIsSkippedAndTrainingContinues()
    {
        var model = Model();
        var history = Trainer.Fit(model, Sine(64, 1), Sine(16, 2), new TrainingOptions
        {
            Epochs = 3, BatchSize = 8, Callbacks = [new PoisonGradients(step => step == 3)],
        });
        Assert.Equal(1, history.Epochs[0].SkippedSteps);
        Assert.Equal(0, history.Epochs[1].SkippedSteps);
        Assert.Equal(3, history.Epochs.Count);
        Assert.Equal(0, history.Rollbacks);
        Assert.All(model.Parameters, p => Assert.All(p.Value.Data, v => Assert.True(float.IsFinite(v))));
        Assert.True(history.Epochs[^1].TrainLoss < history.Epochs[0].TrainLoss);
    }

    [Fact]
    public void RepeatedNonFiniteStepsRollBackAndCutTheLearningRate()
    {
        var model = Model();
        var log = new StringWriter();
        // Steps 10..14 of epoch 2 (8 batches per epoch) are all poisoned: 5 in a row triggers one rollback.
        var history = Trainer.Fit(model, Sine(64, 1), Sine(16, 2), new TrainingOptions
        {
            Epochs = 3, BatchSize = 8, LearningRate = 0.01, Callbacks = [new PoisonGradients(step => step is >= 10 and < 15)],
        }, log);
        Assert.Equal(1, history.Rollbacks);
        Assert.Equal(5, history.Epochs[1].SkippedSteps);
        Assert.Equal(0.005, history.Epochs[2].LearningRate, 12);
        Assert.Contains("restored the weights of the start of epoch 2", log.ToString());
        Assert.All(model.Parameters, p => Assert.All(p.Value.Data, v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void PersistentNonFiniteStepsStopTrainingWithAClearMessage()
    {
        var ex = Assert.Throws<TrainingDivergedException>(() => Trainer.Fit(Model(), Sine(64, 1), Sine(16, 2), new TrainingOptions
        {
            Epochs = 10, BatchSize = 8, Callbacks = [new PoisonGradients(_ => true)],
        }));
        Assert.Contains("diverged", ex.Message);
        Assert.Contains("--lr", ex.Message);
    }

    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        // StepLR(step_size=2 epochs, gamma=0.5), ExponentialLR(gamma=0.9): by 1-based epoch
        var step = new StepDecay(everyEpochs: 2, gamma: 0.5);
        Assert.Equal(1.0, step.Factor(19, 100, 2));
        Assert.Equal(0.5, step.Factor(20, 100, 3));
        Assert.Equal(0.25, step.Factor(45, 100, 5));
        Assert.Equal(0.9 * 0.9, new ExponentialDecay(0.9).Factor(25, 100, 3), 15);

        var cosine = new CosineWithWarmup(warmupFraction: 0.1);
        Assert.Equal(0.1, cosine.Factor(0, 100, 10), 15);     // linear warm-up: (0+1)/10
        Assert.Equal(1.0, cosine.Factor(10, 100, 10), 15);    // top right after warm-up
        Assert.Equal(0.5, cosine.Factor(55, 100, 10), 15);    // half way down the cosine
        Assert.True(cosine.Factor(99, 100, 10) < 0.001);

        // OneCycleLR(total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4, cosine)
        var cycle = new OneCycle();
        Assert.Equal(1 / 25.0, cycle.Factor(0, 100, 10), 15);
        Assert.Equal(1.0, cycle.Factor(29, 100, 10), 15);
        Assert.Equal(1 / 25.0 / 1e4, cycle.Factor(99, 100, 10), 15);
    }

    [Fact]
    public void ReduceOnPlateauNeverRaisesARateAlreadyUnderItsFloor()
    {
        var history = Trainer.Fit(Model(), Sine(64, 1), Sine(16, 2), new TrainingOptions
        {
            Epochs = 6, BatchSize = 8, LearningRate = 1e-8, Callbacks = [new ReduceOnPlateau(patience: 0, minLearningRate: 1e-6)],
        });
        Assert.All(history.Epochs, e => Assert.Equal(1e-8, e.LearningRate));
    }

    [Fact]
    public void ReduceOnPlateauCutsTheRateWhenValidationStalls()
    {
        var plateau = new ReduceOnPlateau(factor: 0.5, patience: 1);
        var history = Trainer.Fit(Model(), Sine(64, 1), Sine(16, 2), new TrainingOptions
        {
            Epochs = 25, BatchSize = 8, LearningRate = 0.3, Optimizer = "sgd", Clip = 0, Callbacks = [plateau],
        });
        var rates = history.Epochs.Select(e => e.LearningRate).ToList();
        Assert.True(rates[^1] < rates[0], $"rates: {string.Join(", ", rates)}");
        Assert.All(rates.Zip(rates.Skip(1)), pair => Assert.True(pair.Second <= pair.First));
    }
}
