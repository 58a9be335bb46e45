using Xunit;

namespace Recur.Tests.Fixtures;

public class PyTorchFixtureTests
{
    private const string FileName = "pytorch_parity.json";

    private static int GateCount(string cell) => cell switch
    {
        "lstm" => 4,
        "gru" => 3,
        "rnn" => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "unknown cell"),
    };

    private static void AssertShape(FixtureCase c, string name, params int[] expected)
    {
        Assert.True(c.Has(name), $"{c.Name}: missing tensor '{name}'");
        var actual = c.Tensor(name).Shape;
        Assert.True(
            actual.SequenceEqual(expected),
            $"{c.Name}/{name}: expected shape [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
    }

    [Fact]
    public void Fixture_HasConsistentShapesAndGradients()
    {
        var fixture = PyTorchFixture.Load(FileName);
        Assert.NotEmpty(fixture.Cases);
        Assert.Contains(fixture.Cases, c => c.Cell == "lstm");
        Assert.Contains(fixture.Cases, c => c.Cell == "gru");
        Assert.Contains(fixture.Cases, c => c.Cell == "rnn");

        foreach (var c in fixture.Cases)
        {
            int g = GateCount(c.Cell), b = c.Batch, t = c.SeqLen, i = c.InputSize, h = c.HiddenSize, l = c.NumLayers;
            var isLstm = c.Cell == "lstm";
            Assert.True(double.IsFinite(c.Loss), $"{c.Name}: loss not finite");

            AssertShape(c, "input", b, t, i);
            AssertShape(c, "output", b, t, h);
            AssertShape(c, "grad_output", b, t, h);
            AssertShape(c, "grad.input", b, t, i);
            foreach (var name in isLstm
                ? new[] { "h0", "c0", "h_n", "c_n", "grad_h_n", "grad_c_n", "grad.h0", "grad.c0" }
                : new[] { "h0", "h_n", "grad_h_n", "grad.h0" })
            {
                AssertShape(c, name, l, b, h);
            }

            Assert.Equal(isLstm, c.Has("c0"));
            Assert.Equal(isLstm, c.Has("c_n"));

            var parameters = new List<string>();
            for (var k = 0; k < l; k++)
            {
                AssertShape(c, $"weight_ih_l{k}", g * h, k == 0 ? i : h);
                AssertShape(c, $"weight_hh_l{k}", g * h, h);
                AssertShape(c, $"bias_ih_l{k}", g * h);
                AssertShape(c, $"bias_hh_l{k}", g * h);
                parameters.AddRange([$"weight_ih_l{k}", $"weight_hh_l{k}", $"bias_ih_l{k}", $"bias_hh_l{k}"]);
            }

            Assert.False(c.Has($"weight_ih_l{l}"), $"{c.Name}: unexpected layer {l}");

            // Every parameter-like entry (weight_*/bias_*) has a matching grad. entry of the same shape.
            foreach (var name in c.TensorNames.Where(n => n.StartsWith("weight_", StringComparison.Ordinal) || n.StartsWith("bias_", StringComparison.Ordinal)))
            {
                Assert.Contains(name, parameters);
                AssertShape(c, "grad." + name, c.Tensor(name).Shape);
            }

            foreach (var name in c.TensorNames)
            {
                Assert.All(c.Tensor(name).Data, v => Assert.True(double.IsFinite(v), $"{c.Name}/{name}: non-finite value"));
            }

            // Sampled values are exactly representable in float32.
            foreach (var name in new[] { "input", "h0", "weight_ih_l0", "grad_output" })
            {
                var tensor = c.Tensor(name);
                var f = tensor.ToFloat();
                for (var j = 0; j < f.Length; j++)
                {
                    Assert.Equal(tensor.Data[j], (double)f[j]);
                }
            }
        }

        var missing = Assert.Throws<KeyNotFoundException>(() => fixture.Cases[0].Tensor("no_such_tensor"));
        Assert.Contains("input", missing.Message, StringComparison.Ordinal);
    }
}
