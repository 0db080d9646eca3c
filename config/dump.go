package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MarshalYAML renders c as a YAML configuration file that Load reads back
// to the same configuration: every key in declaration order, durations
// with their unit, unset optional values (nil pointers, nil lists) left out. Secrets
// (passwords, cluster.secret) are written as they are: the output is a
// complete configuration, to be stored like the original file (0600).
func MarshalYAML(c *Config) ([]byte, error) {
	root := structNode(reflect.ValueOf(c).Elem())
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("config: render YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: render YAML: %w", err)
	}
	return []byte(b.String()), nil
}

var durType = reflect.TypeFor[time.Duration]()

// structNode is a mapping of v's mapstructure-tagged fields.
func structNode(v reflect.Value) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		n := valueNode(v.Field(i))
		if n == nil {
			continue
		}
		m.Content = append(m.Content, scalar(tag, yaml.Node{}.Tag), n)
	}
	return m
}

// valueNode renders one value; nil for a nil pointer (key left out).
func valueNode(v reflect.Value) *yaml.Node {
	if v.Type() == durType {
		return scalar(time.Duration(v.Int()).String(), "!!str")
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return valueNode(v.Elem())
	case reflect.Struct:
		return structNode(v)
	case reflect.Slice:
		if v.IsNil() {
			return nil // absent from the file; [] is an empty, non-nil list
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			seq.Content = append(seq.Content, valueNode(v.Index(i)))
		}
		if v.Len() > 0 && v.Type().Elem().Kind() != reflect.Struct {
			seq.Style = yaml.FlowStyle
		}
		return seq
	case reflect.String:
		return scalar(v.String(), "!!str")
	case reflect.Bool:
		return scalar(strconv.FormatBool(v.Bool()), "!!bool")
	case reflect.Int, reflect.Int64, reflect.Int32:
		return scalar(strconv.FormatInt(v.Int(), 10), "!!int")
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		return scalar(strconv.FormatUint(v.Uint(), 10), "!!int")
	case reflect.Float64:
		return scalar(strconv.FormatFloat(v.Float(), 'g', -1, 64), "!!float")
	}
	panic(fmt.Sprintf("config: MarshalYAML: unsupported kind %s", v.Kind()))
}

func scalar(s, tag string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: tag}
	if tag == "!!str" {
		// Quote strings that would read back as another type ("", "true", "3306").
		var probe any
		if err := yaml.Unmarshal([]byte(s), &probe); err != nil || probe == nil {
			n.Style = yaml.DoubleQuotedStyle
		} else if _, ok := probe.(string); !ok {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}
