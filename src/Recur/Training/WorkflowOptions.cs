using Recur.Schedules;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Training;

/// <summary>The <see cref="TrainingOptions"/> a resolved <see cref="TrainConfig"/> asks for, shared by the workflows.</summary>
internal static class WorkflowOptions
{
    /// <summary>
    /// Training options of a resolved config, with fresh callbacks: early stopping and the schedule, the
    /// gradient-flow monitor (always on), then the caller's callbacks.
    /// </summary>
    public static TrainingOptions Create(TrainConfig c, IReadOnlyList<TrainingCallback>? callbacks, CheckpointSettings? checkpoints = null, string? part = null)
    {
        var all = new List<TrainingCallback>();
        if (c.Patience is int patience) all.Add(new EarlyStopping(patience));
        if (LearningRateSchedule.Parse(c.LrSchedule) is TrainingCallback schedule) all.Add(schedule);
        all.Add(new GradientFlowMonitor());
        all.AddRange(callbacks ?? []);
        return new()
        {
            Epochs = c.Epochs!.Value, BatchSize = c.BatchSize!.Value, LearningRate = c.Lr!.Value, Optimizer = c.Optimizer!,
            Clip = c.Clip!.Value, Seed = c.Seed!.Value, TimeLimitSeconds = c.TimeLimit ?? 0, Callbacks = all,
            CheckpointDirectory = checkpoints is null ? null : part is null ? checkpoints.Directory : Path.Combine(checkpoints.Directory, part),
            CheckpointEveryBatches = c.CheckpointEvery ?? 0,
            WeightDecay = c.WeightDecay, WeightDecayMode = c.Decay, MaxNorm = c.MaxNorm ?? 0,
            Augmentation = Augmentations.AugmentationPipeline.From(c.Augment),
            Curriculum = Training.Curriculum.Parse(c.Curriculum, c.Epochs!.Value, c.CurriculumEpochs, null),
            CheckpointNotes = checkpoints?.Notes ?? new Dictionary<string, string>(),
            TeacherForcing = c.TeacherForcing ?? 1,
        };
    }

    /// <summary>
    /// The one place that applies the recurrent-stack options of <paramref name="c"/> to a workflow's
    /// <paramref name="spec"/> (every workflow builds its model through this): bidirectional, layer_dropout and
    /// residual, checked (a language model, <paramref name="perStepCausal"/>, cannot be bidirectional), then the
    /// recurrent regularisation and layer norm (<see cref="WithRecurrentOptions"/>).
    /// </summary>
    public static Models.SequenceModelSpec Stack(Models.SequenceModelSpec spec, TrainConfig c, bool perStepCausal = false)
    {
        if (c.LayerDropout is double p && !(p >= 0 && p < 1))
            throw new InvalidInputException($"--layer-dropout: expected a probability in [0, 1); found {p.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        if (perStepCausal && c.Bidirectional == true)
            throw new InvalidInputException(LanguageModelWorkflow.BidirectionalRefused);
        var attention = c.Attention is string a ? Layers.AttentionKinds.Parse(a) : Layers.AttentionKind.None;
        if (attention != Layers.AttentionKind.None && (spec.PerStep || perStepCausal))
            throw new InvalidInputException(Layers.AttentionKinds.Refused);
        if (c.CheckpointTime is int k && k < 0)
            throw new InvalidInputException($"--checkpoint-time: expected a segment length of at least 1 step (0 or no value: ⌈√T⌉); found {k}.");
        return WithRecurrentOptions(spec with { CheckpointTime = c.CheckpointTime, Bidirectional = c.Bidirectional ?? false, LayerDropout = c.LayerDropout ?? 0, Residual = c.Residual ?? false, Attention = attention }, c);
    }

    /// <summary>
    /// The spec with the config's recurrent regularisation (input dropout, recurrent dropout, zoneout, each checked
    /// to be in [0, 1)) and layer norm; part of <see cref="Stack"/>.
    /// </summary>
    public static Models.SequenceModelSpec WithRecurrentOptions(Models.SequenceModelSpec spec, TrainConfig c)
    {
        foreach (var (flag, value) in new[] { ("--input-dropout", c.InputDropout), ("--recurrent-dropout", c.RecurrentDropout), ("--zoneout", c.Zoneout) })
            if (value is double q && !(q >= 0 && q < 1))
                throw new InvalidInputException($"{flag}: expected a probability in [0, 1); found {q.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        return spec with
        {
            InputDropout = c.InputDropout ?? 0, RecurrentDropout = c.RecurrentDropout ?? 0, Zoneout = c.Zoneout ?? 0, LayerNorm = c.LayerNorm ?? false,
        };
    }

    /// <summary>The gradient-flow monitor that <see cref="Create"/> put among the callbacks.</summary>
    public static GradientFlowMonitor Monitor(TrainingOptions options) => options.Callbacks.OfType<GradientFlowMonitor>().First();
}
