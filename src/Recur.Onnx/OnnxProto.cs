using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Recur.Onnx;

// The ONNX messages Recur writes, encoded by hand on the protobuf wire format with Google.Protobuf's
// CodedOutputStream: no generated code and no copy of onnx.proto. Every field number below is the one declared in
// onnx/onnx.proto of the ONNX repository (github.com/onnx/onnx, file onnx/onnx.proto; the same numbers appear in
// onnx.proto3 and in every binding generated from them). Only the fields Recur needs are written; protobuf readers
// skip nothing and assume defaults for the rest.

/// <summary>ONNX <c>TensorProto.DataType</c> values (onnx.proto: FLOAT = 1, INT32 = 6, INT64 = 7).</summary>
internal enum OnnxDataType
{
    Float = 1,
    Int32 = 6,
    Int64 = 7,
}

/// <summary>ONNX <c>AttributeProto.AttributeType</c> values (onnx.proto: FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7, STRINGS = 8).</summary>
internal enum OnnxAttributeType
{
    Float = 1,
    Int = 2,
    String = 3,
    Floats = 6,
    Ints = 7,
    Strings = 8,
}

/// <summary>A protobuf message being written: fields in any order, nested messages length-prefixed.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();
    private readonly CodedOutputStream _out;

    public ProtoWriter() => _out = new CodedOutputStream(_buffer, leaveOpen: true);

    /// <summary>An int32/int64/enum field (wire type 0, varint).</summary>
    public void Varint(int field, long value)
    {
        _out.WriteTag(field, WireFormat.WireType.Varint);
        _out.WriteInt64(value);
    }

    /// <summary>A float field (wire type 5, fixed 32-bit).</summary>
    public void Float(int field, float value)
    {
        _out.WriteTag(field, WireFormat.WireType.Fixed32);
        _out.WriteFloat(value);
    }

    /// <summary>A string field (wire type 2, UTF-8 bytes).</summary>
    public void String(int field, string value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteString(value);
    }

    /// <summary>A bytes field (wire type 2).</summary>
    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteBytes(ByteString.CopyFrom(value));
    }

    /// <summary>A packed repeated int64 field (wire type 2 holding varints), as proto3 and [packed = true] write them.</summary>
    public void PackedInt64(int field, IReadOnlyList<long> values)
    {
        if (values.Count == 0) return;
        int size = values.Sum(CodedOutputStream.ComputeInt64Size);
        _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
        _out.WriteLength(size);
        foreach (long v in values) _out.WriteInt64(v);
    }

    /// <summary>An embedded message field (wire type 2, the message's bytes).</summary>
    public void Message(int field, IOnnxMessage message) => Bytes(field, message.ToBytes());

    public byte[] ToArray()
    {
        _out.Flush();
        return _buffer.ToArray();
    }
}

internal interface IOnnxMessage
{
    void WriteTo(ProtoWriter writer);

    byte[] ToBytes()
    {
        var writer = new ProtoWriter();
        WriteTo(writer);
        return writer.ToArray();
    }
}

/// <summary><c>ModelProto</c>: the file.</summary>
internal sealed record OnnxModel(long IrVersion, IReadOnlyList<OnnxOpset> Opsets, string ProducerName, string ProducerVersion,
    string DocString, OnnxGraph Graph, IReadOnlyList<KeyValuePair<string, string>> Metadata) : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        w.Varint(1, IrVersion);                                  // ModelProto.ir_version = 1
        w.String(2, ProducerName);                               // ModelProto.producer_name = 2
        w.String(3, ProducerVersion);                            // ModelProto.producer_version = 3
        w.String(6, DocString);                                  // ModelProto.doc_string = 6
        w.Message(7, Graph);                                     // ModelProto.graph = 7
        foreach (var opset in Opsets) w.Message(8, opset);       // ModelProto.opset_import = 8
        foreach (var (key, value) in Metadata)                   // ModelProto.metadata_props = 14
            w.Message(14, new OnnxStringEntry(key, value));
    }
}

/// <summary><c>OperatorSetIdProto</c>: domain = 1 ("" is the default ONNX operator set), version = 2.</summary>
internal sealed record OnnxOpset(string Domain, long Version) : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        if (Domain.Length > 0) w.String(1, Domain);
        w.Varint(2, Version);
    }
}

/// <summary><c>StringStringEntryProto</c>: key = 1, value = 2.</summary>
internal sealed record OnnxStringEntry(string Key, string Value) : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        w.String(1, Key);
        w.String(2, Value);
    }
}

/// <summary><c>GraphProto</c>.</summary>
internal sealed record OnnxGraph(string Name, IReadOnlyList<OnnxNode> Nodes, IReadOnlyList<OnnxTensor> Initializers,
    IReadOnlyList<OnnxValueInfo> Inputs, IReadOnlyList<OnnxValueInfo> Outputs) : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        foreach (var node in Nodes) w.Message(1, node);          // GraphProto.node = 1
        w.String(2, Name);                                       // GraphProto.name = 2
        foreach (var t in Initializers) w.Message(5, t);         // GraphProto.initializer = 5
        foreach (var input in Inputs) w.Message(11, input);      // GraphProto.input = 11
        foreach (var output in Outputs) w.Message(12, output);   // GraphProto.output = 12
    }
}

/// <summary><c>NodeProto</c>: one operator application.</summary>
internal sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, string Name,
    IReadOnlyList<OnnxAttribute> Attributes) : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        foreach (var input in Inputs) w.String(1, input);        // NodeProto.input = 1 ("" marks an omitted optional input)
        foreach (var output in Outputs) w.String(2, output);     // NodeProto.output = 2
        w.String(3, Name);                                       // NodeProto.name = 3
        w.String(4, OpType);                                     // NodeProto.op_type = 4 (domain = 7 left empty: the ONNX operator set)
        foreach (var a in Attributes) w.Message(5, a);           // NodeProto.attribute = 5
    }
}

/// <summary><c>AttributeProto</c>: a name, its type and exactly one value field.</summary>
internal sealed record OnnxAttribute : IOnnxMessage
{
    private OnnxAttribute(string name, OnnxAttributeType type) => (Name, Type) = (name, type);

    public string Name { get; }
    public OnnxAttributeType Type { get; }
    private long _int;
    private float _float;
    private string _string = "";
    private long[] _ints = [];
    private float[] _floats = [];
    private string[] _strings = [];

    public static OnnxAttribute Int(string name, long value) => new(name, OnnxAttributeType.Int) { _int = value };
    public static OnnxAttribute Float(string name, float value) => new(name, OnnxAttributeType.Float) { _float = value };
    public static OnnxAttribute String(string name, string value) => new(name, OnnxAttributeType.String) { _string = value };
    public static OnnxAttribute Ints(string name, params long[] values) => new(name, OnnxAttributeType.Ints) { _ints = values };
    public static OnnxAttribute Floats(string name, params float[] values) => new(name, OnnxAttributeType.Floats) { _floats = values };
    public static OnnxAttribute Strings(string name, params string[] values) => new(name, OnnxAttributeType.Strings) { _strings = values };

    public void WriteTo(ProtoWriter w)
    {
        w.String(1, Name);                                       // AttributeProto.name = 1
        w.Varint(20, (long)Type);                                // AttributeProto.type = 20
        switch (Type)
        {
            case OnnxAttributeType.Float: w.Float(2, _float); break;                      // f = 2
            case OnnxAttributeType.Int: w.Varint(3, _int); break;                         // i = 3
            case OnnxAttributeType.String: w.Bytes(4, System.Text.Encoding.UTF8.GetBytes(_string)); break; // s = 4 (bytes)
            case OnnxAttributeType.Floats: foreach (float f in _floats) w.Float(7, f); break;              // floats = 7
            case OnnxAttributeType.Ints: foreach (long i in _ints) w.Varint(8, i); break;                  // ints = 8
            case OnnxAttributeType.Strings: foreach (string s in _strings) w.Bytes(9, System.Text.Encoding.UTF8.GetBytes(s)); break; // strings = 9
        }
    }
}

/// <summary><c>TensorProto</c> with its values in <c>raw_data</c> (fixed-width little-endian, row-major, as onnx.proto requires).</summary>
internal sealed record OnnxTensor(string Name, OnnxDataType DataType, long[] Dims, byte[] RawData) : IOnnxMessage
{
    public static OnnxTensor Floats(string name, long[] dims, ReadOnlySpan<float> values) =>
        new(name, OnnxDataType.Float, dims, LittleEndian(MemoryMarshal.AsBytes(values)));

    public static OnnxTensor Int64s(string name, long[] dims, ReadOnlySpan<long> values) =>
        new(name, OnnxDataType.Int64, dims, LittleEndian(MemoryMarshal.AsBytes(values)));

    public static OnnxTensor Int32s(string name, long[] dims, ReadOnlySpan<int> values) =>
        new(name, OnnxDataType.Int32, dims, LittleEndian(MemoryMarshal.AsBytes(values)));

    private static byte[] LittleEndian(ReadOnlySpan<byte> bytes) => BitConverter.IsLittleEndian
        ? bytes.ToArray()
        : throw new PlatformNotSupportedException("ONNX export writes raw little-endian tensors; this machine is big-endian.");

    public void WriteTo(ProtoWriter w)
    {
        w.PackedInt64(1, Dims);                                  // TensorProto.dims = 1
        w.Varint(2, (long)DataType);                             // TensorProto.data_type = 2
        w.String(8, Name);                                       // TensorProto.name = 8
        w.Bytes(9, RawData);                                     // TensorProto.raw_data = 9
    }
}

/// <summary>
/// <c>ValueInfoProto</c> (name = 1, type = 2) of a tensor: <c>TypeProto.tensor_type = 1</c> →
/// <c>TypeProto.Tensor</c> (elem_type = 1, shape = 2) → <c>TensorShapeProto.dim = 1</c> → <c>Dimension</c>
/// (dim_value = 1, or dim_param = 2 for a named dynamic axis).
/// </summary>
internal sealed record OnnxValueInfo(string Name, OnnxDataType ElementType, IReadOnlyList<OnnxDim> Shape, string DocString = "") : IOnnxMessage
{
    public void WriteTo(ProtoWriter w)
    {
        w.String(1, Name);                                       // ValueInfoProto.name = 1
        w.Message(2, new TypeMessage(ElementType, Shape));       // ValueInfoProto.type = 2
        if (DocString.Length > 0) w.String(3, DocString);        // ValueInfoProto.doc_string = 3
    }

    private sealed record TypeMessage(OnnxDataType ElementType, IReadOnlyList<OnnxDim> Shape) : IOnnxMessage
    {
        public void WriteTo(ProtoWriter w) => w.Message(1, new TensorTypeMessage(ElementType, Shape)); // TypeProto.tensor_type = 1
    }

    private sealed record TensorTypeMessage(OnnxDataType ElementType, IReadOnlyList<OnnxDim> Shape) : IOnnxMessage
    {
        public void WriteTo(ProtoWriter w)
        {
            w.Varint(1, (long)ElementType);                      // TypeProto.Tensor.elem_type = 1
            w.Message(2, new ShapeMessage(Shape));               // TypeProto.Tensor.shape = 2
        }
    }

    private sealed record ShapeMessage(IReadOnlyList<OnnxDim> Dims) : IOnnxMessage
    {
        public void WriteTo(ProtoWriter w)
        {
            foreach (var d in Dims) w.Message(1, d);             // TensorShapeProto.dim = 1
        }
    }
}

/// <summary><c>TensorShapeProto.Dimension</c>: a fixed size (dim_value = 1) or a named dynamic axis (dim_param = 2).</summary>
internal sealed record OnnxDim(long? Value, string? Param) : IOnnxMessage
{
    public static OnnxDim Fixed(long value) => new(value, null);
    public static OnnxDim Dynamic(string name) => new(null, name);

    public void WriteTo(ProtoWriter w)
    {
        if (Param is not null) w.String(2, Param);
        else w.Varint(1, Value!.Value);
    }
}
