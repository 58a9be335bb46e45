using Microsoft.ML.OnnxRuntime;
using Recur.Autograd;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Tests.Onnx;

/// <summary>Builds models with random weights, runs them in Recur and in ONNX Runtime, and compares real steps.</summary>
internal static class OnnxHarness
{
    /// <summary>A model of the spec with every parameter drawn uniform in [−0.5, 0.5]: no gate block looks like another.</summary>
    public static SequenceModel RandomModel(SequenceModelSpec spec, ulong seed)
    {
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var random = new RecurRandom(seed + 1000);
        foreach (var p in model.Parameters)
            for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] = (float)random.Uniform(-0.5, 0.5);
        return model;
    }

    /// <summary>Saves the model as a model file (as training does) and loads it back, as <c>recur export</c> reads it.</summary>
    public static ModelFile SaveAndLoad(SequenceModel model, string task, string directory)
    {
        string path = Path.Combine(directory, $"{task}-{Guid.NewGuid():N}.safetensors");
        new ModelFile(model, new TrainConfig { Task = task }, $$"""{"task": "{{task}}", "vocabulary_size": {{model.Spec.VocabularySize}}}""", """{"note": "test"}""").Save(path);
        return ModelFile.Load(path);
    }

    /// <summary>A random batch: token ids or values in [−1, 1], right-padded (zeros / id 0) beyond each length.</summary>
    public static SequenceBatch RandomBatch(SequenceModelSpec spec, int batch, int steps, int[]? lengths, RecurRandom random)
    {
        bool tokens = spec.VocabularySize > 0;
        int F = spec.InputSize;
        var values = tokens ? null : new Tensor(batch, steps, F);
        var ids = tokens ? new int[batch * steps] : null;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < (lengths?[b] ?? steps); t++)
            {
                if (tokens) ids![b * steps + t] = random.NextInt(spec.VocabularySize);
                else for (int f = 0; f < F; f++) values!.Data[(b * steps + t) * F + f] = (float)random.Uniform(-1, 1);
            }
        return new SequenceBatch(batch, steps, values, ids) { Lengths = lengths };
    }

    public static float[] RecurForward(SequenceModel model, SequenceBatch batch) =>
        model.Forward(Tape.Inference, batch, training: false, random: null).Value.Data;

    public static float[] OnnxForward(InferenceSession session, SequenceModelSpec spec, SequenceBatch batch, bool withLengths)
    {
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            inputs["input"] = spec.VocabularySize > 0
                ? OrtValue.CreateTensorValueFromMemory(batch.Tokens!.Select(t => (long)t).ToArray(), [batch.Batch, batch.Steps])
                : OrtValue.CreateTensorValueFromMemory((float[])batch.Values!.Data.Clone(), [batch.Batch, batch.Steps, spec.InputSize]);
            if (withLengths)
                inputs["lengths"] = OrtValue.CreateTensorValueFromMemory(batch.Lengths ?? Enumerable.Repeat(batch.Steps, batch.Batch).ToArray(), [batch.Batch]);
            using var options = new RunOptions();
            using var outputs = session.Run(options, inputs, ["output"]);
            var output = outputs[0];
            var shape = output.GetTensorTypeAndShape().Shape;
            long[] expected = spec.PerStep ? [batch.Batch, batch.Steps, spec.OutputSize] : [batch.Batch, spec.OutputSize];
            Assert.Equal(expected, shape);
            return output.GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in inputs.Values) v.Dispose();
        }
    }

    /// <summary>‖a − b‖ / ‖b‖ over the real outputs: every row per sequence, steps t &lt; length per step.</summary>
    public static double RelativeError(SequenceModelSpec spec, SequenceBatch batch, float[] onnx, float[] recur)
    {
        Assert.Equal(recur.Length, onnx.Length);
        double diff = 0, norm = 0;
        int O = spec.OutputSize, T = batch.Steps;
        for (int b = 0; b < batch.Batch; b++)
        {
            int steps = spec.PerStep ? batch.Lengths?[b] ?? T : 1;
            int start = spec.PerStep ? b * T * O : b * O;
            for (int k = start; k < start + steps * O; k++)
            {
                double d = onnx[k] - recur[k];
                diff += d * d;
                norm += (double)recur[k] * recur[k];
            }
        }
        Assert.True(norm > 0, "the reference outputs are all zero; the comparison would prove nothing");
        return Math.Sqrt(diff / norm);
    }
}
